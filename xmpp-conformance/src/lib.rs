//! The conformance runner (work in progress).
