//! Signed approvals (placeholder, filled in below).
