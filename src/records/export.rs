//! The record written out (`verger records export`), to any `io::Write`, one spray at a
//! time: CSV (RFC 4180, a header of the [`AppliedRecord`] field names in their order)
//! or a GeoJSON FeatureCollection (one feature per spray: a LineString from where the
//! valve opened to where it closed, a Point when only one end is known, no geometry
//! when neither is; every field in `properties`). Times stay the RFC 3339 text of the
//! record; numbers are written so that they read back to the same value.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use serde::Serialize;

use super::{AppliedRecord, RecordError};
use crate::geojson_writer::FeatureCollectionWriter;

/// The fields of an [`AppliedRecord`] in their order: the CSV header.
pub const FIELDS: [&str; 22] = [
    "id",
    "plan_id",
    "revision",
    "tree_id",
    "section",
    "opened_at",
    "closed_at",
    "open_lat",
    "open_lon",
    "close_lat",
    "close_lon",
    "flow_l_min",
    "volume_l",
    "intended_volume_l",
    "product",
    "authorisation",
    "target_pest",
    "parcel",
    "crop",
    "operator",
    "end",
    "recorded_at",
];

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One row per spray under a header of the field names (RFC 4180).
    Csv,
    /// A GeoJSON FeatureCollection: one feature per spray, its path as geometry.
    Geojson,
}

/// An export being written to `W`: [`Exporter::write`] each spray, then
/// [`Exporter::finish`] (a CSV header, or a GeoJSON collection's head and end, is
/// written even for no spray).
#[derive(Debug)]
pub struct Exporter<W: Write> {
    inner: Inner<W>,
}

#[derive(Debug)]
enum Inner<W: Write> {
    // Boxed: the CSV writer carries its buffer's state inline.
    Csv(Box<csv::Writer<W>>),
    Geojson(FeatureCollectionWriter<BufWriter<W>>),
}

fn io(e: impl Into<std::io::Error>) -> RecordError {
    RecordError::Write(Arc::new(e.into()))
}

impl<W: Write> Exporter<W> {
    /// Start an export in `format` to `out`.
    pub fn new(format: Format, out: W) -> Result<Exporter<W>, RecordError> {
        let inner = match format {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                w.write_record(FIELDS).map_err(io)?;
                Inner::Csv(Box::new(w))
            }
            Format::Geojson => {
                Inner::Geojson(FeatureCollectionWriter::start(BufWriter::new(out)).map_err(io)?)
            }
        };
        Ok(Exporter { inner })
    }

    /// Write one spray.
    pub fn write(&mut self, record: &AppliedRecord) -> Result<(), RecordError> {
        match &mut self.inner {
            Inner::Csv(w) => w.serialize(record).map_err(io),
            Inner::Geojson(w) => w.feature(&feature(record)).map_err(io),
        }
    }

    /// End the export and flush it; the writer back.
    pub fn finish(self) -> Result<W, RecordError> {
        match self.inner {
            Inner::Csv(w) => w.into_inner().map_err(|e| io(e.into_error())),
            Inner::Geojson(w) => w
                .finish()
                .map_err(io)?
                .into_inner()
                .map_err(|e| io(e.into_error())),
        }
    }
}

/// The GeoJSON feature of a spray, written in this order: its id, its path, every field
/// as a property (in the record's order).
#[derive(Serialize)]
struct Feature<'a> {
    r#type: &'static str,
    id: i64,
    geometry: Option<Geometry>,
    properties: &'a AppliedRecord,
}

/// A spray's path, longitude then latitude.
#[derive(Serialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    LineString([[f64; 2]; 2]),
    Point([f64; 2]),
}

fn feature(r: &AppliedRecord) -> Feature<'_> {
    let open = r.open_lon.zip(r.open_lat).map(<[f64; 2]>::from);
    let close = r.close_lon.zip(r.close_lat).map(<[f64; 2]>::from);
    let geometry = match (open, close) {
        (Some(a), Some(b)) => Some(Geometry::LineString([a, b])),
        (Some(p), None) | (None, Some(p)) => Some(Geometry::Point(p)),
        (None, None) => None,
    };
    Feature {
        r#type: "Feature",
        id: r.id,
        geometry,
        properties: r,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::contract::ContractPayload;

    fn export(format: Format, records: &[AppliedRecord]) -> Vec<u8> {
        let mut e = Exporter::new(format, Vec::new()).unwrap();
        for r in records {
            e.write(r).unwrap();
        }
        e.finish().unwrap()
    }

    /// The examples, with text that needs quoting and numbers that need every digit.
    fn records() -> Vec<AppliedRecord> {
        let mut out = AppliedRecord::examples();
        out[1].operator = Some("Martin, J. \"Jo\"\nnight shift".into());
        out[1].product = "Exemplar, 80 WG".into();
        out[2].open_lat = Some(44.104_412_345_678_9);
        out[2].open_lon = Some(-1.085_121_7);
        out[3].close_lat = Some(-0.1);
        out[3].close_lon = Some(1e-7);
        out[4].volume_l = 0.1 + 0.2;
        for (i, r) in out.iter_mut().enumerate() {
            r.id = i as i64 + 1;
        }
        out
    }

    #[test]
    fn the_csv_header_is_the_record_fields_in_order() {
        // What serde says the fields are, through the csv crate's own header.
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&AppliedRecord::examples()[0]).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), FIELDS.join(","));
        let empty = export(Format::Csv, &[]);
        assert_eq!(String::from_utf8(empty).unwrap(), FIELDS.join(",") + "\n");
    }

    #[test]
    fn csv_reads_back_to_the_same_records() {
        let records = records();
        let bytes = export(Format::Csv, &records);
        let back: Vec<AppliedRecord> = csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, records);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("\"Martin, J. \"\"Jo\"\"\nnight shift\""),
            "RFC 4180 quoting: {text}"
        );
        assert!(text.contains(",0.30000000000000004,"), "{text}");
    }

    #[test]
    fn geojson_reads_back_with_each_spray_as_its_path() {
        let records = records();
        let bytes = export(Format::Geojson, &records);
        let fc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(fc["type"], "FeatureCollection");
        let features = fc["features"].as_array().unwrap();
        assert_eq!(features.len(), records.len());
        for (f, r) in features.iter().zip(&records) {
            assert_eq!(f["type"], "Feature");
            assert_eq!(f["id"], r.id);
            let back: AppliedRecord = serde_json::from_value(f["properties"].clone()).unwrap();
            assert_eq!(&back, r);
            assert_eq!(
                f["properties"].as_object().unwrap().len(),
                FIELDS.len(),
                "every field"
            );
        }
        // The first example has both ends, the others none (then one end, set above).
        assert_eq!(
            features[0]["geometry"],
            json!({"type": "LineString", "coordinates": [[1.085_121_7, 44.104_412_3], [1.085_130_2, 44.104_424_8]]})
        );
        assert_eq!(features[1]["geometry"], Value::Null);
        assert_eq!(
            features[2]["geometry"],
            json!({"type": "Point", "coordinates": [-1.085_121_7, 44.104_412_345_678_9]})
        );
        assert_eq!(
            features[3]["geometry"],
            json!({"type": "Point", "coordinates": [1e-7, -0.1]})
        );
        let empty: Value = serde_json::from_slice(&export(Format::Geojson, &[])).unwrap();
        assert_eq!(empty, json!({"type": "FeatureCollection", "features": []}));
    }

    #[test]
    fn a_failing_output_is_an_error() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for format in [Format::Csv, Format::Geojson] {
            let e = Exporter::new(format, Full)
                .and_then(|mut e| {
                    e.write(&records()[0])?;
                    e.finish()
                })
                .unwrap_err();
            assert!(e.to_string().contains("disk full"), "{e}");
        }
    }
}
