//! Renders the resolved estate into deployable objects (Kubernetes manifests, compose
//! files), lays them out as a deterministic deploy tree, and plans changes as a diff.

pub mod yaml;
