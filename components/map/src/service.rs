//! The map's procedures (`orchard.map.trees_near`, `tree`, `zone_at`, `info`,
//! `trees_in_bbox`): arguments checked, then a query on the map database on a blocking
//! thread (SQLite), so a large query never stalls the planner.

use std::sync::{Arc, Mutex};

use verger::client::{Client, ClientError, InvocationError, RegisterOptions, Registration};
use verger::contract::map::*;
use verger::orchard::{BBox, MapDb, MapError};
use verger::wamp::{Dict, Value};

/// The database the procedures read (its own connection, apart from the planner's).
pub(crate) type SharedDb = Arc<Mutex<MapDb>>;

/// An `orchard.error.*` error with its `message` kwarg.
fn error(uri: &str, message: impl Into<String>) -> InvocationError {
    let mut kwargs = Dict::new();
    kwargs.insert("message".into(), Value::Str(message.into()));
    InvocationError::new(uri).with_kwargs(kwargs)
}

fn invalid(message: impl Into<String>) -> InvocationError {
    error(ERROR_INVALID_ARGUMENT, message)
}

/// Latitude and longitude in range, or the error naming the bad one.
fn check_point(lat: f64, lon: f64) -> Result<(), InvocationError> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(invalid(format!("lat {lat} is not a latitude (-90 to 90)")));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(invalid(format!(
            "lon {lon} is not a longitude (-180 to 180)"
        )));
    }
    Ok(())
}

/// Run `query` on the database on a blocking thread.
async fn query<T: Send + 'static>(
    db: &SharedDb,
    query: impl FnOnce(&MapDb) -> Result<T, MapError> + Send + 'static,
) -> Result<T, InvocationError> {
    let db = db.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        query(&db)
    })
    .await;
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("map query failed: {e}");
            Err(error(ERROR_MAP, e.to_string()))
        }
        Err(e) => Err(error(ERROR_MAP, format!("map query aborted: {e}"))),
    }
}

/// Register every procedure; the registrations live as long as the returned handles.
pub(crate) async fn register(
    client: &Client,
    db: SharedDb,
) -> Result<Vec<Registration>, ClientError> {
    let mut out = Vec::new();
    let d = db.clone();
    out.push(
        client
            .register_typed(
                TREES_NEAR,
                RegisterOptions::default(),
                move |c: TreesNearCall| {
                    let db = d.clone();
                    async move {
                        check_point(c.lat, c.lon)?;
                        if !(c.radius_m > 0.0 && c.radius_m <= MAX_RADIUS_M) {
                            return Err(invalid(format!(
                                "radius_m {} must be above 0 and at most {MAX_RADIUS_M}",
                                c.radius_m
                            )));
                        }
                        let near =
                            query(&db, move |m| m.trees_near(c.lat, c.lon, c.radius_m)).await?;
                        Ok(TreesNearResult {
                            trees: near
                                .iter()
                                .map(|n| NearTree {
                                    tree: TreePayload::from(&n.tree),
                                    distance_m: n.distance_m,
                                })
                                .collect(),
                        })
                    }
                },
            )
            .await?,
    );
    let d = db.clone();
    out.push(
        client
            .register_typed(TREE, RegisterOptions::default(), move |c: TreeCall| {
                let db = d.clone();
                async move {
                    let id = c.id.clone();
                    match query(&db, move |m| m.tree(&c.id)).await? {
                        Some(tree) => Ok(TreePayload::from(&tree)),
                        None => Err(error(ERROR_NOT_FOUND, format!("no tree {id:?} in the map"))),
                    }
                }
            })
            .await?,
    );
    let d = db.clone();
    out.push(
        client
            .register_typed(ZONE_AT, RegisterOptions::default(), move |c: ZoneAtCall| {
                let db = d.clone();
                async move {
                    check_point(c.lat, c.lon)?;
                    let at = query(&db, move |m| m.zone_at(c.lat, c.lon)).await?;
                    let zones: Vec<ZoneRef> = at
                        .zones
                        .into_iter()
                        .map(|z| ZoneRef {
                            id: z.id,
                            reason: z.reason,
                        })
                        .collect();
                    Ok(ZoneAtResult {
                        inside_boundary: at.inside_boundary,
                        boundary: at.boundary,
                        sprayable: at.inside_boundary && zones.is_empty(),
                        zones,
                    })
                }
            })
            .await?,
    );
    let d = db.clone();
    out.push(
        client
            .register_typed(INFO, RegisterOptions::default(), move |(): ()| {
                let db = d.clone();
                async move { query(&db, info).await }
            })
            .await?,
    );
    let d = db;
    out.push(
        client
            .register_typed(
                TREES_IN_BBOX,
                RegisterOptions::default(),
                move |c: TreesInBboxCall| {
                    let db = d.clone();
                    async move {
                        check_point(c.south, c.west)?;
                        check_point(c.north, c.east)?;
                        if c.south > c.north || c.west > c.east {
                            return Err(invalid(
                                "the box is upside down: south must not exceed north, nor west east",
                            ));
                        }
                        let limit = c.limit.unwrap_or(DEFAULT_BBOX_LIMIT);
                        if !(1..=MAX_BBOX_LIMIT).contains(&limit) {
                            return Err(invalid(format!(
                                "limit {limit} must be between 1 and {MAX_BBOX_LIMIT}"
                            )));
                        }
                        let bbox = BBox {
                            south: c.south,
                            west: c.west,
                            north: c.north,
                            east: c.east,
                        };
                        let found =
                            query(&db, move |m| m.trees_in_bbox(bbox, limit as usize)).await?;
                        Ok(TreesInBboxResult {
                            trees: found.trees.iter().map(TreePayload::from).collect(),
                            truncated: found.truncated,
                        })
                    }
                },
            )
            .await?,
    );
    Ok(out)
}

/// `orchard.map.info` of the map.
pub(crate) fn info(m: &MapDb) -> Result<InfoResult, MapError> {
    let i = m.info()?;
    Ok(InfoResult {
        orchard: OrchardPayload {
            name: i.orchard.name,
            crop: i.orchard.crop,
            eppo_code: i.orchard.eppo_code,
            parcel_ref: i.orchard.parcel_ref,
        },
        trees: i.trees,
        rows: i.rows,
        blocks: i.blocks,
        zones: i.zones,
        boundary: i.boundary,
        area_ha: i.boundary_area_ha,
        extent: i.extent.map(|e| Extent {
            south: e.south,
            west: e.west,
            north: e.north,
            east: e.east,
        }),
        canopy_volume_m3: i.total_canopy_volume_m3,
        fruit_count: i.total_fruit_count,
        schema_version: u32::try_from(i.schema_version).unwrap_or(0),
    })
}
