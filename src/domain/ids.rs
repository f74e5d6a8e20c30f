//! The ids of Keyward's things, one type each: an app's id cannot be passed
//! where a key's is expected, and two ids side by side cannot be swapped.
//!
//! Every id is opaque text (a UUIDv7 for rows Keyward makes). Each type is stored
//! as `TEXT` on both backends and travels through Diesel, serde and templates as
//! its text. It is held as shared text: a clone is a reference count, so the
//! verifier's cache, its usage counters and its queues hold one copy of a
//! key's ids between them.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            diesel::AsExpression,
            diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name(std::sync::Arc<str>);

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::from)
            }
        }

        impl $name {
            /// A new id: a UUIDv7, time-ordered so indexes stay compact and keyset
            /// pagination by id follows creation order.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string().into())
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s.into())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.into())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_ref().to_owned()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(&self.0, out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                String::from_sql(bytes).map(Self::from)
            }
        }
    };
}

id_type!(
    /// An organization: the business whose apps, keys, staff and audit trail
    /// Keyward keeps.
    OrgId
);
id_type!(
    /// An application: its public Application ID.
    AppId
);
id_type!(
    /// An API key (not its text, which is never stored).
    KeyId
);
id_type!(
    /// An admin of the console.
    AdminId
);
id_type!(
    /// An operator of the server, who runs its organizations.
    OperatorId
);
id_type!(
    /// An employee on the staff.
    EmployeeId
);
id_type!(
    /// A guest (customer) of the business.
    GuestId
);
id_type!(
    /// A service the business offers.
    ServiceId
);
id_type!(
    /// An appointment.
    AppointmentId
);
id_type!(
    /// A weekly span an employee works.
    WorkingHoursId
);
id_type!(
    /// A scheduled part-payment.
    InstallmentId
);
id_type!(
    /// A payment received.
    PaymentId
);
id_type!(
    /// A webhook endpoint.
    EndpointId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_and_ordered_by_creation() {
        let (a, b) = (AppId::generate(), AppId::generate());
        assert_ne!(a, b);
        assert!(a < b);
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn an_id_travels_as_its_text() {
        let id = KeyId::from("k-1");
        assert_eq!(id.to_string(), "k-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"k-1\"");
        assert_eq!(serde_json::from_str::<KeyId>("\"k-1\"").unwrap(), id);
    }
}
