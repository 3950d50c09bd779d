//! OpenAPI schemas of values that are plain strings on the wire but carry the server's
//! rules (only with the `openapi` feature).

use crate::types::MAX_TAG_LEN;

/// The OpenAPI schema of one tag: 1–128 printable characters, not only whitespace (the
/// rule `normalize_tags` applies on the server).
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TAG_LEN))
            .pattern(Some(r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]+$"))
            .examples([serde_json::json!("fraud")])
            .into()
    }
}

impl utoipa::ToSchema for Tag {}
