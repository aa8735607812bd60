//! The `keyhaven.admin.v1` contract, generated from `proto/` at build time.
//!
//! Invariant: nothing here but generated code and the descriptor set that server
//! reflection serves; conversions to domain types live in the admin crate.

#![allow(clippy::all, clippy::pedantic)]

pub mod admin {
    pub mod v1 {
        tonic::include_proto!("keyhaven.admin.v1");

        /// Encoded `FileDescriptorSet` of every file in `proto/`, for server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(
            env!("OUT_DIR"),
            "/keyhaven_admin_v1_descriptor.bin"
        ));
    }
}
