//! Tests of the parser switch.
