//! The hosting estate: a folder of Kubernetes-style YAML documents, loaded with source
//! spans, validated, and classified into tiers and DR postures.
