//! Session unit tests: hand-crafted frames only for violations real libraries refuse to send.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
