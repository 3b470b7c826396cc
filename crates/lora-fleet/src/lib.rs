//! Fleet mode (work in progress).
