//! Compose (placeholder).
