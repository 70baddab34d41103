//! The CSV reader: one tree per record, the header naming the columns. `id`, `row`,
//! `lat` and `lon` are required (a tree's `row` cell may be empty), the known numeric
//! attributes are numbers, and any other column goes into the tree's `extra` (a number
//! if it reads as one, else text; empty cells left out).

use std::path::Path;

use ::csv::{ErrorKind, ReaderBuilder, StringRecord};

use super::{At, Attrs, ImportError, Input, Loc, Place, Problem, ATTRS};
use crate::orchard::geometry;

/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Read `bytes` (file number `file_no` of the import, `file`) into `input`;
/// `progress(bytes read, items read)` now and then.
pub(super) fn read(
    input: &mut Input,
    file_no: usize,
    file: &Path,
    bytes: &[u8],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), ImportError> {
    let mut reader = ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header_at = |problem: Problem| ImportError::Invalid {
        at: Box::new(At {
            file: file.to_owned(),
            place: Place::Line {
                line: 1,
                column: None,
            },
        }),
        problem,
    };
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(file, e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(header_at(Problem::DuplicateColumn {
                column: name.clone(),
            }));
        }
        if name == "kind" {
            return Err(header_at(Problem::ReservedColumn {
                column: name.clone(),
            }));
        }
    }
    let column = |name: &'static str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| header_at(Problem::MissingColumn { column: name }))
    };
    let (id_col, row_col, lat_col, lon_col) = (
        column("id")?,
        column("row")?,
        column("lat")?,
        column("lon")?,
    );
    let attr_cols: Vec<(usize, &'static str)> = ATTRS
        .iter()
        .filter_map(|a| names.iter().position(|n| n == a).map(|i| (i, *a)))
        .collect();
    let extra_cols: Vec<usize> = (0..names.len())
        .filter(|i| ![id_col, row_col, lat_col, lon_col].contains(i))
        .filter(|i| !attr_cols.iter().any(|(c, _)| c == i))
        .collect();

    let mut record = StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(file, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let cell_at = |i: usize, problem: Problem| ImportError::Invalid {
            at: Box::new(At {
                file: file.to_owned(),
                place: Place::Line {
                    line,
                    column: Some((i + 1, names[i].clone())),
                },
            }),
            problem,
        };
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        let id = match cell(id_col) {
            "" => return Err(cell_at(id_col, Problem::MissingValue { column: "id" })),
            id => id.to_owned(),
        };
        let row = Some(cell(row_col))
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let number =
            |i: usize, required: Option<&'static str>| -> Result<Option<f64>, ImportError> {
                match cell(i) {
                    "" => match required {
                        Some(column) => Err(cell_at(i, Problem::MissingValue { column })),
                        None => Ok(None),
                    },
                    text => match text.parse::<f64>() {
                        Ok(v) if v.is_finite() => Ok(Some(v)),
                        _ => Err(cell_at(
                            i,
                            Problem::NotANumber {
                                name: names[i].clone(),
                                value: format!("{text:?}"),
                            },
                        )),
                    },
                }
            };
        let lat = number(lat_col, Some("lat"))?.unwrap_or_default();
        let lon = number(lon_col, Some("lon"))?.unwrap_or_default();
        // Out of range: the latitude and longitude cells are both at fault.
        geometry::lon_lat(lon, lat).map_err(|p| ImportError::Invalid {
            at: Box::new(At {
                file: file.to_owned(),
                place: Place::Line { line, column: None },
            }),
            problem: p,
        })?;
        let mut attrs = Attrs::default();
        for &(i, name) in &attr_cols {
            let v = number(i, None)?;
            if let Some(v) = v.filter(|v| *v < 0.0) {
                return Err(cell_at(
                    i,
                    Problem::Negative {
                        name: name.to_owned(),
                        value: v,
                    },
                ));
            }
            attrs.set(name, v);
        }
        let mut tree = attrs.tree(id, row, lat, lon);
        for &i in &extra_cols {
            let text = cell(i);
            if !text.is_empty() {
                tree.extra.insert(names[i].clone(), extra_value(text));
            }
        }
        input.trees.push(tree);
        input.tree_locs.push(Loc {
            file: file_no,
            item: line,
        });
        input.items += 1;
        if input.items % PROGRESS_EVERY == 0 {
            progress(record.position().map_or(0, |p| p.byte()), input.items);
        }
    }
    Ok(())
}

/// A cell of an extra column: a number if it reads as one, else text.
fn extra_value(text: &str) -> serde_json::Value {
    if let Ok(i) = text.parse::<i64>() {
        return i.into();
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => f.into(),
        _ => text.into(),
    }
}

fn csv_error(file: &Path, e: ::csv::Error) -> ImportError {
    let line = |pos: &Option<::csv::Position>| pos.as_ref().map_or(0, |p| p.line());
    let (line, problem) = match e.kind() {
        ErrorKind::Utf8 { pos, .. } => (line(pos), Problem::NotUtf8),
        ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => (
            line(pos),
            Problem::FieldCount {
                expected: *expected_len,
                found: *len,
            },
        ),
        _ => {
            return ImportError::Read {
                file: file.to_owned(),
                source: std::io::Error::other(e.to_string()),
            }
        }
    };
    ImportError::Invalid {
        at: Box::new(At {
            file: file.to_owned(),
            place: Place::Line { line, column: None },
        }),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_str(text: &[u8]) -> Result<Input, ImportError> {
        let mut input = Input::default();
        input
            .files
            .push((Path::new("t.csv").to_owned(), super::super::Format::Csv));
        read(&mut input, 0, Path::new("t.csv"), text, &mut |_, _| {})?;
        Ok(input)
    }

    #[test]
    fn trees_read_with_their_extras() {
        let input = read_str(
            b"\xEF\xBB\xBFid,row,lat,lon,fruit_count,canopy_height_m,variety,age,note\n\
              T1,R1,47.35,-0.62,120,3.5,Gala,12,\n\
              T2,,47.36,-0.61,,,,1.5,needs pruning\n",
        )
        .unwrap();
        assert_eq!(input.trees.len(), 2);
        let t = &input.trees[0];
        assert_eq!((t.id.as_str(), t.row.as_deref()), ("T1", Some("R1")));
        assert_eq!(
            (t.lat, t.lon, t.fruit_count, t.canopy_height_m),
            (47.35, -0.62, Some(120.0), Some(3.5))
        );
        assert_eq!(
            t.extra,
            serde_json::json!({"variety": "Gala", "age": 12})
                .as_object()
                .unwrap()
                .clone()
        );
        let t = &input.trees[1];
        assert_eq!((t.row.as_deref(), t.fruit_count), (None, None));
        assert_eq!(
            t.extra,
            serde_json::json!({"age": 1.5, "note": "needs pruning"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(input.tree_locs[1].item, 3);
    }

    fn error(text: &str) -> String {
        read_str(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn wrong_records_are_named_by_line_and_column() {
        assert_eq!(
            error("id,lat,lon\nT1,1,2\n"),
            "t.csv, line 1: no `row` column (the header must name id, row, lat and lon)"
        );
        assert_eq!(
            error("id,row,lat,lon\nT1,R1,1,2\nT2,R1,north,2\n"),
            "t.csv, line 3, column 3 (lat): `lat` must be a number, not \"north\""
        );
        assert_eq!(
            error("id,row,lat,lon,fruit_count\nT1,R1,1,2,-4\n"),
            "t.csv, line 2, column 5 (fruit_count): `fruit_count` must not be negative, not -4"
        );
        assert_eq!(
            error("id,row,lat,lon\nT1,R1,6862000,651000\n"),
            "t.csv, line 2: longitude 651000, latitude 6862000 is out of range (longitude within ±180°, latitude within ±90°): coordinates must be WGS 84 degrees, not projected metres"
        );
        assert_eq!(
            error("id,row,lat,lon\n,R1,1,2\n"),
            "t.csv, line 2, column 1 (id): `id` is empty; every tree needs one"
        );
        assert_eq!(
            error("id,row,lat,lon\nT1,R1,1\n"),
            "t.csv, line 2: 3 fields where the header has 4"
        );
        assert_eq!(
            error("id,row,lat,lon,id\n"),
            "t.csv, line 1: the header names `id` twice"
        );
        assert!(error("id,row,lat,lon,kind\n").contains("a CSV file holds trees only"));
        assert!(error("").contains("no `id` column"));
        assert_eq!(
            read_str(b"id,row,lat,lon\nT1,R1,1,\xff\n")
                .unwrap_err()
                .to_string(),
            "t.csv, line 2: not UTF-8 text"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_str(&bytes);
            let mut with_header = b"id,row,lat,lon,fruit_count,x\n".to_vec();
            with_header.extend_from_slice(&bytes);
            let _ = read_str(&with_header);
        }

        #[test]
        fn csv_like_text_never_panics(text in "[a-z0-9,.\n\"-]{0,200}") {
            let _ = read_str(format!("id,row,lat,lon,canopy_width_m,e\n{text}").as_bytes());
        }
    }
}
