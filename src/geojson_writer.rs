//! A GeoJSON FeatureCollection written as it is read (the map export, the record
//! export): the collection's head, one feature a line, then its end. Nothing is held in
//! memory but the feature being written.

use std::io::{self, Write};

/// A FeatureCollection being written to `W`.
#[derive(Debug)]
pub(crate) struct FeatureCollectionWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> FeatureCollectionWriter<W> {
    /// Write the collection's head.
    pub(crate) fn start(mut out: W) -> io::Result<Self> {
        out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
        Ok(FeatureCollectionWriter { out, first: true })
    }

    /// Write one feature (anything that serializes as a `Feature` object).
    pub(crate) fn feature(&mut self, feature: &impl serde::Serialize) -> io::Result<()> {
        let sep = if std::mem::take(&mut self.first) {
            "\n"
        } else {
            ",\n"
        };
        self.out.write_all(sep.as_bytes())?;
        serde_json::to_writer(&mut self.out, feature).map_err(io::Error::from)
    }

    /// Write the collection's end and flush; the writer back.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}
