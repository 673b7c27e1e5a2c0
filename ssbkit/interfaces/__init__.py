"""Interface stability (phase-diagram thermodynamics) and interface structure building."""
