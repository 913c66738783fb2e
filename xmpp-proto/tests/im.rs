//! RFC 6121 layer tests.
