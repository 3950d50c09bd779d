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

/// A model ref in a body (`bc`, `bc@production`, `bc@7`, `bc@champion`): a model name and
/// an optional `@` and version ref.
pub struct ModelRefText;

impl utoipa::PartialSchema for ModelRefText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,127}(?:@(?:[1-9][0-9]{0,17}|(?![0-9]+$)[a-z0-9][a-z0-9._-]{0,63}))?$",
            ))
            .examples([serde_json::json!("bc@production")])
            .into()
    }
}

impl utoipa::ToSchema for ModelRefText {}

/// A request body of raw bytes (an upload): any bytes are well-formed.
pub struct RawBytes;

impl utoipa::PartialSchema for RawBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for RawBytes {}
