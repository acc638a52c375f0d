//! Plans (placeholder).
