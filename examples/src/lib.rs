//! Examples only: see `examples/`.
