//! The GeoJSON reader: a FeatureCollection (or a lone Feature) whose features say what
//! they are in their `kind` property or, without one, in the `type` property of the
//! AGRIDS convention (`row`, `block`). Anything else without a `kind` is skipped and
//! counted; a `kind` verger does not know is an error.

use std::path::Path;

use ::geojson::{Geometry, GeometryValue};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{shown, At, Attrs, ImportError, Input, Loc, Place, Problem, RowInput, ATTRS};
use crate::orchard::geometry;
use crate::orchard::{Block, OrchardMeta, Row, Zone};

/// The top level: a FeatureCollection, or a lone Feature (its members then are here).
#[derive(Deserialize)]
#[serde(expecting = "a GeoJSON object")]
struct Document {
    #[serde(rename = "type")]
    kind: Option<String>,
    features: Option<Vec<RawFeature>>,
    crs: Option<Value>,
    id: Option<Value>,
    properties: Option<Map<String, Value>>,
    geometry: Option<Geometry>,
}

/// One element of `features`.
#[derive(Deserialize)]
#[serde(expecting = "a GeoJSON Feature object")]
struct RawFeature {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<Value>,
    properties: Option<Map<String, Value>>,
    geometry: Option<Geometry>,
}

/// Read `bytes` (file number `file_no` of the import, `file`) into `input`.
pub(super) fn read(
    input: &mut Input,
    file_no: usize,
    file: &Path,
    bytes: &[u8],
) -> Result<(), ImportError> {
    let not_json = |e: serde_json::Error| ImportError::NotJson {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: plain_json_error(&e),
    };
    // serde would take a top-level array for a struct: tell what it is instead.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let value: Value = serde_json::from_slice(bytes).map_err(not_json)?;
        let what = match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(ImportError::NotGeoJson {
            file: file.to_owned(),
            message: format!("the file holds {what}, not a GeoJSON object"),
        });
    }
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ImportError::NotGeoJson {
            file: file.to_owned(),
            message: e.to_string(),
        },
        _ => not_json(e),
    })?;
    if let Some(crs) = &doc.crs {
        if !wgs84(crs) {
            return Err(ImportError::Crs {
                file: file.to_owned(),
                crs: match crs.pointer("/properties/name").and_then(Value::as_str) {
                    Some(name) => format!("{name:?}"),
                    None => shown(crs),
                },
            });
        }
    }
    let features = match doc.kind.as_deref() {
        Some("FeatureCollection") => doc.features.ok_or_else(|| ImportError::NotGeoJson {
            file: file.to_owned(),
            message: "a FeatureCollection without `features`".into(),
        })?,
        Some("Feature") => vec![RawFeature {
            kind: doc.kind,
            id: doc.id,
            properties: doc.properties,
            geometry: doc.geometry,
        }],
        Some(other) => {
            return Err(ImportError::NotGeoJson {
                file: file.to_owned(),
                message: format!(
                    "its `type` is {other:?}; verger reads features with a `kind` property (see docs/map.md)"
                ),
            })
        }
        None => {
            return Err(ImportError::NotGeoJson {
                file: file.to_owned(),
                message: "no `type` member".into(),
            })
        }
    };
    let mut reader = Reader {
        input,
        file_no,
        file,
    };
    for (index, f) in features.into_iter().enumerate() {
        reader.feature(index, f)?;
    }
    Ok(())
}

/// serde_json's message without its own "at line L column C" (the error says it).
fn plain_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// True for a `crs` member naming WGS 84 longitude/latitude: OGC CRS84 or EPSG:4326 in
/// any of their spellings (`urn:ogc:def:crs:OGC:1.3:CRS84`, `EPSG:4326`,
/// `urn:ogc:def:crs:EPSG::4326`, `http://www.opengis.net/def/crs/EPSG/0/4326`...), or
/// null. Files labelled EPSG:4326 are read longitude first, as GeoJSON always is.
fn wgs84(crs: &Value) -> bool {
    if crs.is_null() {
        return true;
    }
    if let Some(code) = crs.pointer("/properties/code") {
        // The 2008 GeoJSON draft's `{"type": "EPSG", "properties": {"code": 4326}}`.
        return code.as_i64() == Some(4326)
            && crs.get("type").and_then(Value::as_str) == Some("EPSG");
    }
    let Some(name) = crs.pointer("/properties/name").and_then(Value::as_str) else {
        return false;
    };
    let upper = name.trim().to_ascii_uppercase();
    let parts: Vec<&str> = upper.split([':', '/']).collect();
    match parts.last() {
        Some(&"CRS84") => parts.len() == 1 || parts.contains(&"OGC"),
        Some(&"4326") => parts.contains(&"EPSG"),
        _ => false,
    }
}

struct Reader<'a> {
    input: &'a mut Input,
    file_no: usize,
    file: &'a Path,
}

/// A value as an id or a reference (text or a whole number), `None` when null or empty.
fn id_text(name: &str, value: Option<&Value>) -> Result<Option<String>, Problem> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(Problem::NotText {
            name: name.to_owned(),
            value: shown(other),
        }),
    }
}

/// A text property (numbers are taken as their text), `None` when null or empty.
fn text(props: &Map<String, Value>, name: &str) -> Result<Option<String>, Problem> {
    match props.get(name) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        other => id_text(name, other),
    }
}

/// A number property that cannot be negative.
fn measure(props: &Map<String, Value>, name: &str) -> Result<Option<f64>, Problem> {
    match props.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v < 0.0 => Err(Problem::Negative {
                name: name.to_owned(),
                value: v,
            }),
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(Problem::NotANumber {
                name: name.to_owned(),
                value: n.to_string(),
            }),
        },
        Some(other) => Err(Problem::NotANumber {
            name: name.to_owned(),
            value: shown(other),
        }),
    }
}

fn attrs(props: &Map<String, Value>) -> Result<Attrs, Problem> {
    let mut attrs = Attrs::default();
    for name in ATTRS {
        attrs.set(name, measure(props, name)?);
    }
    Ok(attrs)
}

fn spacing(props: &Map<String, Value>) -> Result<Option<f64>, Problem> {
    match measure(props, "tree_spacing_m")? {
        Some(v) if v <= 0.0 => Err(Problem::BadSpacing { value: v }),
        other => Ok(other),
    }
}

fn year(props: &Map<String, Value>) -> Result<Option<i64>, Problem> {
    match props.get("planting_year") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(other) => Err(Problem::NotAWholeNumber {
            name: "planting_year".into(),
            value: shown(other),
        }),
    }
}

fn geometry_name(g: Option<&Geometry>) -> String {
    g.map_or("none".to_owned(), |g| g.value.type_name().to_owned())
}

fn area(kind: &'static str, g: Option<&Geometry>) -> Result<geo::MultiPolygon<f64>, Problem> {
    match g.and_then(|g| geometry::area(&g.value, true)) {
        Some(checked) => checked,
        None => Err(Problem::WrongGeometry {
            kind,
            expected: "Polygon or MultiPolygon",
            found: geometry_name(g),
        }),
    }
}

impl Reader<'_> {
    fn loc(&self, index: usize) -> Loc {
        Loc {
            file: self.file_no,
            item: index as u64,
        }
    }

    fn feature(&mut self, index: usize, f: RawFeature) -> Result<(), ImportError> {
        self.input.items += 1;
        let props = f.properties.unwrap_or_default();
        // The id for error messages: the property, else the feature's.
        let feature_id = id_text("id", f.id.as_ref()).ok().flatten();
        let prop_id = id_text("id", props.get("id"));
        let shown_id = prop_id.clone().ok().flatten().or(feature_id.clone());
        let file = self.file;
        let fail = |problem: Problem| ImportError::Invalid {
            at: Box::new(At {
                file: file.to_owned(),
                place: Place::Feature {
                    index,
                    id: shown_id.clone(),
                },
            }),
            problem,
        };
        match f.kind.as_deref() {
            Some("Feature") => {}
            other => {
                return Err(fail(Problem::NotAFeature {
                    found: other.unwrap_or("missing").to_owned(),
                }))
            }
        }
        let id = prop_id.map_err(&fail)?.or(feature_id);
        let geometry = f.geometry.as_ref();
        let loc = self.loc(index);
        match props.get("kind") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) => {
                let kind = kind.clone();
                return self.kind(&kind, loc, id, props, geometry).map_err(fail);
            }
            Some(other) => {
                return Err(fail(Problem::KindNotText {
                    found: shown(other),
                }))
            }
        }
        // No kind: the AGRIDS convention, else skipped.
        let type_ = props.get("type").and_then(Value::as_str);
        match type_ {
            Some("row") => {
                let id = text(&props, "shortCode").map_err(&fail)?.or(id);
                self.row(loc, id, &props, geometry).map_err(&fail)
            }
            Some("block") => {
                let id = text(&props, "shortCode").map_err(&fail)?.or(id);
                let block = Block {
                    id: id
                        .ok_or(Problem::MissingId { kind: "block" })
                        .map_err(&fail)?,
                    name: None,
                    variety: text(&props, "name").map_err(&fail)?,
                    planting_year: year(&props).map_err(&fail)?,
                    area: self.block_area(geometry).map_err(&fail)?,
                };
                self.input.blocks.push((loc, block));
                Ok(())
            }
            _ => {
                let class = props.get("class").and_then(Value::as_str);
                let label = match (type_, class) {
                    (Some(t), Some(c)) => format!("{t}/{c}"),
                    (Some(t), None) => t.to_owned(),
                    (None, Some(c)) => c.to_owned(),
                    (None, None) => geometry_name(geometry),
                };
                *self.input.skipped.entry(label).or_default() += 1;
                Ok(())
            }
        }
    }

    fn block_area(&self, g: Option<&Geometry>) -> Result<Option<geo::MultiPolygon<f64>>, Problem> {
        match g {
            None => Ok(None),
            Some(_) => area("block", g).map(Some),
        }
    }

    fn row(
        &mut self,
        loc: Loc,
        id: Option<String>,
        props: &Map<String, Value>,
        g: Option<&Geometry>,
    ) -> Result<(), Problem> {
        let id = id.ok_or(Problem::MissingId { kind: "row" })?;
        let line = match g.map(|g| &g.value) {
            Some(GeometryValue::LineString { coordinates }) => geometry::line(coordinates)?,
            _ => {
                return Err(Problem::WrongGeometry {
                    kind: "row",
                    expected: "LineString",
                    found: geometry_name(g),
                })
            }
        };
        let row = RowInput {
            row: Row {
                id,
                block: text(props, "block")?,
                line,
            },
            spacing: spacing(props)?,
            attrs: attrs(props)?,
        };
        self.input.rows.push((loc, row));
        Ok(())
    }

    fn kind(
        &mut self,
        kind: &str,
        loc: Loc,
        id: Option<String>,
        mut props: Map<String, Value>,
        g: Option<&Geometry>,
    ) -> Result<(), Problem> {
        match kind {
            "tree" => {
                let id = id.ok_or(Problem::MissingId { kind: "tree" })?;
                let c = match g.map(|g| &g.value) {
                    Some(GeometryValue::Point { coordinates }) => geometry::coord(coordinates)?,
                    _ => {
                        return Err(Problem::WrongGeometry {
                            kind: "tree",
                            expected: "Point",
                            found: geometry_name(g),
                        })
                    }
                };
                let row = text(&props, "row")?;
                let mut tree = attrs(&props)?.tree(id, row, c.y, c.x);
                for name in ["kind", "id", "row"].into_iter().chain(ATTRS) {
                    props.remove(name);
                }
                tree.extra = props;
                self.input.trees.push(tree);
                self.input.tree_locs.push(loc);
            }
            "row" => self.row(loc, id, &props, g)?,
            "block" => {
                let block = Block {
                    id: id.ok_or(Problem::MissingId { kind: "block" })?,
                    name: text(&props, "name")?,
                    variety: text(&props, "variety")?,
                    planting_year: year(&props)?,
                    area: self.block_area(g)?,
                };
                self.input.blocks.push((loc, block));
            }
            "boundary" => {
                let a = area("boundary", g)?;
                self.input.boundaries.push((loc, a));
            }
            "no_spray" => {
                let id = id.ok_or(Problem::MissingId {
                    kind: "no_spray zone",
                })?;
                let reason = match text(&props, "reason")? {
                    Some(r) if !r.trim().is_empty() => r,
                    _ => return Err(Problem::MissingReason),
                };
                let a = area("no_spray zone", g)?;
                self.input.zones.push((
                    loc,
                    Zone {
                        id,
                        reason,
                        area: a,
                    },
                ));
            }
            "orchard" => {
                if let Some((first, _)) = &self.input.orchard {
                    let first = self.input.at(*first, None).to_string();
                    return Err(Problem::SecondOrchard { first });
                }
                let meta = OrchardMeta {
                    name: text(&props, "name")?,
                    crop: text(&props, "crop")?,
                    eppo_code: text(&props, "eppo_code")?,
                    parcel_ref: text(&props, "parcel_ref")?,
                };
                self.input.orchard = Some((loc, meta));
            }
            other => {
                return Err(Problem::UnknownKind {
                    kind: other.to_owned(),
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_str(text: &str) -> Result<Input, ImportError> {
        let mut input = Input::default();
        input.files.push((
            Path::new("t.geojson").to_owned(),
            super::super::Format::GeoJson,
        ));
        read(&mut input, 0, Path::new("t.geojson"), text.as_bytes())?;
        Ok(input)
    }

    fn collection(features: &str) -> String {
        format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#)
    }

    #[test]
    fn every_kind_reads() {
        let input = read_str(&collection(
            r#"{"type":"Feature","geometry":null,"properties":{"kind":"orchard","name":"Les Vergers","crop":"apple","eppo_code":"MABSD","parcel_ref":"ZK-12"}},
               {"type":"Feature","id":"B1","geometry":{"type":"Polygon","coordinates":[[[0,0],[0.001,0],[0.001,0.001],[0,0]]]},"properties":{"kind":"block","variety":"Gala","planting_year":2015}},
               {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[0.001,0]]},"properties":{"kind":"row","id":"R1","block":"B1","tree_spacing_m":1.5,"canopy_height_m":3}},
               {"type":"Feature","id":7,"geometry":{"type":"Point","coordinates":[0.0005,0.0001,12]},"properties":{"kind":"tree","row":"R1","fruit_count":120,"health":"good"}},
               {"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[0.002,0],[0.002,0.002],[0,0]]]]},"properties":{"kind":"boundary"}},
               {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[0.0001,0],[0.0001,0.0001],[0,0]]]},"properties":{"kind":"no_spray","id":"Z1","reason":"well"}},
               {"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]},"properties":{"type":"point","class":"toilet"}}"#,
        ))
        .unwrap();
        assert_eq!(input.orchard.unwrap().1.eppo_code.as_deref(), Some("MABSD"));
        assert_eq!(input.blocks[0].1.planting_year, Some(2015));
        assert_eq!(input.rows[0].1.spacing, Some(1.5));
        assert_eq!(input.rows[0].1.attrs.canopy_height_m, Some(3.0));
        let tree = &input.trees[0];
        assert_eq!(
            (tree.id.as_str(), tree.row.as_deref(), tree.lat, tree.lon),
            ("7", Some("R1"), 0.0001, 0.0005)
        );
        assert_eq!(tree.fruit_count, Some(120.0));
        assert_eq!(tree.extra.len(), 1);
        assert_eq!(tree.extra["health"], "good");
        assert_eq!(input.boundaries.len(), 1);
        assert_eq!(input.zones[0].1.reason, "well");
        assert_eq!(input.skipped["point/toilet"], 1);
        assert_eq!(input.items, 7);
    }

    #[test]
    fn a_lone_feature_reads() {
        let input = read_str(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"kind":"tree","id":"t"}}"#,
        )
        .unwrap();
        assert_eq!(input.trees.len(), 1);
    }

    fn problem(features: &str) -> (At, Problem) {
        match read_str(&collection(features)) {
            Err(ImportError::Invalid { at, problem }) => (*at, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_features_are_named() {
        let (at, p) = problem(
            r#"{"type":"Feature","geometry":null,"properties":{"kind":"orchard"}},
               {"type":"Feature","id":"z9","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"kind":"no-spray","reason":"x"}}"#,
        );
        assert_eq!(at.to_string(), "t.geojson, features[1] (id \"z9\")");
        assert_eq!(
            p.to_string(),
            "unknown kind \"no-spray\" (verger reads: orchard, block, row, tree, boundary, no_spray)"
        );
        let (_, p) = problem(
            r#"{"type":"Feature","id":"z","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"kind":"no_spray","reason":"  "}}"#,
        );
        assert_eq!(p, Problem::MissingReason);
        let (_, p) = problem(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[651000.5, 6862000.2]},"properties":{"kind":"tree","id":"t"}}"#,
        );
        assert!(matches!(p, Problem::OutOfRange { .. }), "{p}");
        let (_, p) = problem(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"kind":"tree","id":"t","canopy_height_m":"tall"}}"#,
        );
        assert_eq!(
            p.to_string(),
            "`canopy_height_m` must be a number, not \"tall\""
        );
        let (_, p) = problem(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"kind":"row","id":"r"}}"#,
        );
        assert_eq!(p.to_string(), "a row needs LineString geometry, not Point");
        let (_, p) = problem(r#"{"type":"Feature","geometry":null,"properties":{"kind":3}}"#);
        assert!(matches!(p, Problem::KindNotText { .. }));
        let (_, p) = problem(r#"{"type":"Point","coordinates":[1,2]}"#);
        assert_eq!(p.to_string(), "not a Feature (its `type` is \"Point\")");
        let (_, p) = problem(
            r#"{"type":"Feature","geometry":null,"properties":{"kind":"orchard"}},{"type":"Feature","geometry":null,"properties":{"kind":"orchard"}}"#,
        );
        assert_eq!(
            p.to_string(),
            "a second orchard feature (the first is at t.geojson, features[0])"
        );
    }

    #[test]
    fn not_json_and_not_geojson_are_told_apart() {
        let e = read_str("{\"type\": \"FeatureCollection\",\n \"features\": [}").unwrap_err();
        assert!(matches!(e, ImportError::NotJson { line: 2, .. }), "{e}");
        let e = read_str("[1, 2]").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.geojson: not a GeoJSON FeatureCollection or Feature: the file holds an array, not a GeoJSON object"
        );
        let e = read_str("id,row,lat,lon").unwrap_err().to_string();
        assert!(
            e.starts_with("t.geojson: not JSON: line 1, column 1: "),
            "{e}"
        );
        let e = read_str(r#"{"type":"FeatureCollection","features":[3]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a GeoJSON Feature object"), "{e}");
        let e = read_str(r#"{"type":"Point","coordinates":[1,2]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("its `type` is \"Point\""), "{e}");
    }

    #[test]
    fn only_wgs84_is_accepted() {
        for name in [
            "urn:ogc:def:crs:OGC:1.3:CRS84",
            "urn:ogc:def:crs:OGC::CRS84",
            "EPSG:4326",
            "urn:ogc:def:crs:EPSG::4326",
            "http://www.opengis.net/def/crs/EPSG/0/4326",
            "CRS84",
        ] {
            let crs = serde_json::json!({"type": "name", "properties": {"name": name}});
            assert!(wgs84(&crs), "{name}");
        }
        for name in [
            "urn:ogc:def:crs:EPSG::2154",
            "EPSG:43260",
            "foo:4326",
            "CRS83",
        ] {
            let crs = serde_json::json!({"type": "name", "properties": {"name": name}});
            assert!(!wgs84(&crs), "{name}");
        }
        let e = read_str(r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::2154"}},"features":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "coordinate reference system \"urn:ogc:def:crs:EPSG::2154\" is not supported"
            ),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_str(&String::from_utf8_lossy(&bytes));
            let mut input = Input::default();
            input.files.push((Path::new("x").to_owned(), super::super::Format::GeoJson));
            let _ = read(&mut input, 0, Path::new("x"), &bytes);
        }

        #[test]
        fn feature_like_text_never_panics(
            kind in prop::sample::select(vec!["tree", "row", "block", "boundary", "no_spray", "orchard", "x"]),
            geometry in prop::sample::select(vec![
                "null",
                r#"{"type":"Point","coordinates":[]}"#,
                r#"{"type":"Point","coordinates":[1e308,-1e308]}"#,
                r#"{"type":"LineString","coordinates":[[1,1]]}"#,
                r#"{"type":"Polygon","coordinates":[]}"#,
                r#"{"type":"Polygon","coordinates":[[]]}"#,
                r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,1],[1,0],[0,1],[0,0]]]]}"#,
                r#"{"type":"GeometryCollection","geometries":[]}"#,
            ]),
            props in r#"[a-z_":,0-9\[\]{} .-]{0,40}"#,
        ) {
            let text = collection(&format!(
                r#"{{"type":"Feature","geometry":{geometry},"properties":{{"kind":"{kind}",{props}}}}}"#
            ));
            let _ = read_str(&text);
        }
    }
}
