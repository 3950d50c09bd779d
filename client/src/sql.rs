//! The enums stored as TEXT (`VersionStatus`, `EventKind`) as diesel values, for any
//! backend whose `Text` is a string (SQLite, PostgreSQL, and a `MultiConnection` over
//! them). A stored string that names no variant is a deserialization error, never a
//! default: an unknown status must not read as `pending`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::types::{
    BatchJobStatus, DataFormat, DeploymentPattern, DeploymentState, EventKind, InstanceStatus,
    PromotionStatus, Role, VersionStatus,
};

macro_rules! text_enum {
    ($ty:ty, $what:literal) => {
        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                <$ty>::parse(&text)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), text).into())
            }
        }
    };
}

text_enum!(VersionStatus, "version status");
text_enum!(EventKind, "event kind");
text_enum!(DataFormat, "data format");
text_enum!(BatchJobStatus, "batch job status");
text_enum!(DeploymentPattern, "deployment pattern");
text_enum!(DeploymentState, "deployment state");
text_enum!(InstanceStatus, "instance status");
text_enum!(Role, "role");
text_enum!(PromotionStatus, "promotion status");
