//! Values bound the way each backend stores them, so that one statement serves both:
//! PostgreSQL gets its native `timestamptz`, `uuid` and `jsonb`; SQLite gets text (timestamps in
//! the fixed-width form whose text order is time order, see `sqlite_timestamp`).

use chrono::{DateTime, Utc};
use sqlx::encode::{Encode, IsNull};
use sqlx::error::BoxDynError;
use sqlx::{Database, Postgres, Sqlite, Type};
use uuid::Uuid;

use super::sqlite::text::ts;

/// A point in time.
#[derive(Debug, Clone, Copy)]
pub struct At(pub DateTime<Utc>);

/// An event id.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub Uuid);

/// A JSON document (payloads).
#[derive(Debug, Clone, Copy)]
pub struct Json<'a>(pub &'a serde_json::Value);

macro_rules! bound_as {
    ($ty:ty, $pg:ty, |$v:ident| $pg_value:expr, |$w:ident| $sqlite_text:expr) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> <Postgres as Database>::TypeInfo {
                <$pg as Type<Postgres>>::type_info()
            }
        }
        impl<'q> Encode<'q, Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let $v = self;
                <$pg as Encode<'q, Postgres>>::encode_by_ref($pg_value, buf)
            }
        }
        impl Type<Sqlite> for $ty {
            fn type_info() -> <Sqlite as Database>::TypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
        }
        impl<'q> Encode<'q, Sqlite> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let $w = self;
                <String as Encode<'q, Sqlite>>::encode($sqlite_text, buf)
            }
        }
    };
}

bound_as!(At, DateTime<Utc>, |v| &v.0, |w| ts(w.0));
bound_as!(Id, Uuid, |v| &v.0, |w| w.0.to_string());
bound_as!(Json<'_>, serde_json::Value, |v| v.0, |w| w.0.to_string());
