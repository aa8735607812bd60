//! Organizations and the first-start bootstrap.

use keyhaven_core::model::Organization;
use keyhaven_core::{OrganizationId, PermissionSet, SecretDigest, Slug, Timestamp};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::entities::{management_token, organization};
use crate::{Store, StoreError};

pub async fn get(store: &Store, id: &OrganizationId) -> Result<Option<Organization>, StoreError> {
    organization::Entity::find_by_id(id.to_string())
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}

pub async fn get_by_slug(store: &Store, slug: &Slug) -> Result<Option<Organization>, StoreError> {
    organization::Entity::find()
        .filter(organization::Column::Slug.eq(slug.as_str()))
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}

/// What the first start of an empty database created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    Created { organization: Organization },
    AlreadyInitialised,
}

/// On an empty database, creates the organization and an organization token with every
/// permission, in one transaction. Any existing organization means the database was
/// initialised before, and nothing is written.
pub async fn bootstrap(
    store: &Store,
    slug: &Slug,
    display_name: &str,
    token_digest: SecretDigest,
    now: Timestamp,
) -> Result<Bootstrap, StoreError> {
    let txn = store.write.begin().await?;
    if organization::Entity::find().count(&txn).await? > 0 {
        return Ok(Bootstrap::AlreadyInitialised);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let row = organization::ActiveModel {
        id: Set(id.clone()),
        slug: Set(slug.to_string()),
        display_name: Set(display_name.to_owned()),
        created_at: Set(now.unix_millis()),
    };
    match row
        .insert(&txn)
        .await
        .map_err(StoreError::on_write("organization"))
    {
        // Another replica bootstrapped at the same moment.
        Err(StoreError::AlreadyExists(_)) => return Ok(Bootstrap::AlreadyInitialised),
        other => other?,
    };
    management_token::ActiveModel {
        id: Set(uuid::Uuid::now_v7().simple().to_string()),
        organization_id: Set(id.clone()),
        tenant_id: Set(None),
        display_name: Set("bootstrap".to_owned()),
        digest: Set(token_digest.to_hex()),
        permissions: Set(PermissionSet::all().to_stored()),
        expires_at: Set(None),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: Set(now.unix_millis()),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Bootstrap::Created {
        organization: Organization {
            id: OrganizationId::new(id),
            slug: slug.clone(),
            display_name: display_name.to_owned(),
            created_at: now,
        },
    })
}

fn into_record(row: organization::Model) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrganizationId::new(row.id),
        slug: Slug::parse(&row.slug).map_err(|e| StoreError::corrupt("organization slug", e))?,
        display_name: row.display_name,
        created_at: Timestamp::from_unix_millis(row.created_at),
    })
}
