"""Atomistic models for interfaces: bulk, slabs, heterointerfaces, grain boundaries, LLZO, Li sites and hops."""
