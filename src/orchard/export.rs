//! The map written out (`verger map export`), in the formats import reads, so that an
//! export imported into a new map exports the same again.
//!
//! GeoJSON: one FeatureCollection with the orchard's description, blocks, rows, trees,
//! the boundary (an imported one only: a derived boundary is derived again from the same
//! trees and rows on import) and the no-spray zones, each with its `kind`, in that order
//! and by id. CSV: the trees only (`id,row,lat,lon`, the numeric attributes, then the
//! `extra` keys in alphabetical order). Written as it is read: a 2-million-tree map is
//! never in memory at once.

use std::collections::BTreeSet;
use std::io::Write;

use geojson::GeometryValue;
use serde_json::{Map, Value};

use super::import::ATTRS;
use super::{MapDb, MapError, Tree};
use crate::geojson_writer::FeatureCollectionWriter;

/// A GeoJSON feature of `kind`, with its properties in `props` and its geometry.
fn feature(kind: &str, mut props: Map<String, Value>, geometry: Option<GeometryValue>) -> Value {
    props.insert("kind".into(), kind.into());
    let geometry = geometry.map_or(Value::Null, |g| {
        serde_json::to_value(geojson::Geometry::new(g)).unwrap_or(Value::Null)
    });
    serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry})
}

fn put(props: &mut Map<String, Value>, name: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        props.insert(name.into(), v.into());
    }
}

impl MapDb {
    /// Every tree in id order, to `each`.
    fn each_tree(
        &self,
        mut each: impl FnMut(Tree) -> Result<(), MapError>,
    ) -> Result<(), MapError> {
        let mut stmt = self
            .conn
            .prepare(concat!(
                "SELECT ",
                tree_columns!(),
                " FROM trees t ORDER BY t.id"
            ))
            .map_err(self.sqlite())?;
        let mut rows = stmt.query([]).map_err(self.sqlite())?;
        while let Some(r) = rows.next().map_err(self.sqlite())? {
            each(self.read_tree(r)?)?;
        }
        Ok(())
    }

    /// The whole map as a GeoJSON FeatureCollection (see `docs/map.md`).
    pub fn export_geojson(&self, out: &mut dyn Write) -> Result<(), MapError> {
        let mut fc = FeatureCollectionWriter::start(std::io::BufWriter::new(out))
            .map_err(MapError::Write)?;
        let mut write = |f: Value| fc.feature(&f).map_err(MapError::Write);

        let meta = self.orchard()?;
        if !meta.is_empty() {
            let mut p = Map::new();
            put(&mut p, "name", meta.name);
            put(&mut p, "crop", meta.crop);
            put(&mut p, "eppo_code", meta.eppo_code);
            put(&mut p, "parcel_ref", meta.parcel_ref);
            write(feature("orchard", p, None))?;
        }
        for b in self.blocks()? {
            let mut p = Map::new();
            p.insert("id".into(), b.id.into());
            put(&mut p, "name", b.name);
            put(&mut p, "variety", b.variety);
            put(&mut p, "planting_year", b.planting_year);
            let g = b.area.as_ref().map(GeometryValue::from);
            write(feature("block", p, g))?;
        }
        for r in self.rows()? {
            let mut p = Map::new();
            p.insert("id".into(), r.id.into());
            put(&mut p, "block", r.block);
            write(feature("row", p, Some(GeometryValue::from(&r.line))))?;
        }
        self.each_tree(|t| {
            // Known properties win over `extra` keys of the same name (import keeps
            // those out of `extra`, so only a hand-edited map has any).
            let mut p = t.extra;
            p.insert("id".into(), t.id.into());
            put(&mut p, "row", t.row);
            for (name, v) in ATTRS.iter().zip([
                t.fruit_count,
                t.canopy_height_m,
                t.canopy_width_m,
                t.canopy_volume_m3,
            ]) {
                put(&mut p, name, v);
            }
            let g = GeometryValue::new_point([t.lon, t.lat]);
            write(feature("tree", p, Some(g)))
        })?;
        if let Some(b) = self.boundary()? {
            if !b.derived {
                let g = GeometryValue::from(&b.area);
                write(feature("boundary", Map::new(), Some(g)))?;
            }
        }
        for z in self.zones()? {
            let mut p = Map::new();
            p.insert("id".into(), z.id.into());
            p.insert("reason".into(), z.reason.into());
            let g = GeometryValue::from(&z.area);
            write(feature("no_spray", p, Some(g)))?;
        }
        fc.finish().map(drop).map_err(MapError::Write)
    }

    /// The trees as CSV (see `docs/map.md`).
    pub fn export_csv(&self, out: &mut dyn Write) -> Result<(), MapError> {
        // The extra columns: every key of every tree's `extra`.
        let mut keys = BTreeSet::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT extra FROM trees WHERE extra <> '{}'")
                .map_err(self.sqlite())?;
            let mut rows = stmt.query([]).map_err(self.sqlite())?;
            while let Some(r) = rows.next().map_err(self.sqlite())? {
                let text: String = r.get(0).map_err(self.sqlite())?;
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text) {
                    keys.extend(m.into_iter().map(|(k, _)| k));
                }
            }
        }
        let mut writer = csv::Writer::from_writer(out);
        let fail = |e: csv::Error| MapError::Write(e.into());
        let header = ["id", "row", "lat", "lon"]
            .into_iter()
            .chain(ATTRS)
            .map(str::to_owned)
            .chain(keys.iter().cloned());
        writer.write_record(header).map_err(fail)?;
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        self.each_tree(|t| {
            let mut record = vec![
                t.id,
                t.row.unwrap_or_default(),
                t.lat.to_string(),
                t.lon.to_string(),
                number(t.fruit_count),
                number(t.canopy_height_m),
                number(t.canopy_width_m),
                number(t.canopy_volume_m3),
            ];
            for k in &keys {
                record.push(match t.extra.get(k) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                });
            }
            writer.write_record(&record).map_err(fail)
        })?;
        writer.flush().map_err(MapError::Write)
    }
}
