//! Wire types of file-tree uploads: what a pending tree still needs.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Which files a pending tree still needs: each distinct content once, the ones the
/// registry's store lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingFiles {
    /// Files the manifest lists.
    pub files: usize,
    /// Distinct contents the store does not hold yet: `PUT` each to
    /// `…/versions/{n}/blobs/{digest}`.
    pub missing: Vec<MissingBlob>,
    /// Their bytes together.
    pub missing_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingBlob {
    pub digest: Digest,
    pub size: u64,
}
