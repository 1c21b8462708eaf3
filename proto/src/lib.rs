//! Wire types and gRPC services of camplane, generated from `proto/camplane/v1/*.proto`.
//!
//! Objects travel as JSON documents inside typed envelopes: the domain types live
//! once, in `camplane-config::model`, and the envelopes carry kind, name and revision
//! so that apply/get/watch stay generic over every kind.
#![allow(clippy::all)]

/// Version 1 of the camplane API.
pub mod v1 {
    tonic::include_proto!("camplane.v1");

    impl LayerUpload {
        /// The messages of one layer upload, in order: the header, then each
        /// file's name and its bytes in chunks of at most
        /// [`crate::limits::LAYER_CHUNK`] (the wire's framing, shared by the
        /// CLI and the tests).
        pub fn messages(
            layer: &str,
            repair_polygons: bool,
            files: Vec<(String, Vec<u8>)>,
        ) -> Vec<LayerUpload> {
            use layer_upload::Part;
            let mut out = vec![LayerUpload {
                part: Some(Part::Header(LayerUploadHeader {
                    layer: layer.into(),
                    repair_polygons,
                })),
            }];
            for (name, data) in files {
                out.push(LayerUpload {
                    part: Some(Part::File(name)),
                });
                out.extend(
                    data.chunks(crate::limits::LAYER_CHUNK)
                        .map(|c| LayerUpload {
                            part: Some(Part::Chunk(c.to_vec())),
                        }),
                );
            }
            out
        }
    }

    impl HotlistUpload {
        /// The messages of one hotlist upload, in order: the header (`req`
        /// without its file), then the file's bytes in chunks of at most
        /// [`crate::limits::HOTLIST_CHUNK`] (the wire's framing, shared by the
        /// CLI and the tests).
        pub fn messages(mut req: HotlistLoadRequest) -> Vec<HotlistUpload> {
            use hotlist_upload::Part;
            let csv = std::mem::take(&mut req.csv);
            let mut out = vec![HotlistUpload {
                part: Some(Part::Header(req)),
            }];
            out.extend(
                csv.chunks(crate::limits::HOTLIST_CHUNK)
                    .map(|c| HotlistUpload {
                        part: Some(Part::Chunk(c.to_vec())),
                    }),
            );
            out
        }
    }
}

/// Message size limits both ends of a call set on their tonic clients and servers
/// (tonic's default of 4 MiB each way is too small for these services).
pub mod limits {
    /// The largest message the `Placement` service takes: a layer upload's
    /// chunk ([`LAYER_CHUNK`]) or a rules file, with room for their framing.
    /// Layers travel in chunks, so a caller is authenticated before anything
    /// large is read.
    pub const PLACEMENT_MAX_REQUEST: usize = 4 << 20;
    /// The largest bytes of one `LayerUpload.chunk`.
    pub const LAYER_CHUNK: usize = 1 << 20;
    /// The largest message the `Placement` service gives (the map's SVG, a
    /// recheck of every camera).
    pub const PLACEMENT_MAX_RESPONSE: usize = 256 << 20;
    /// The largest hotlist CSV file the `Hotlists` service accepts (bytes).
    pub const HOTLIST_MAX_FILE: usize = 64 << 20;
    /// The largest bytes of one `HotlistUpload.chunk`, and of the file a
    /// unary `Hotlists.Load` carries.
    pub const HOTLIST_CHUNK: usize = 1 << 20;
    /// The largest `Hotlists` message: one chunk ([`HOTLIST_CHUNK`]) and the
    /// rest of its request. Larger files are streamed (`Hotlists.Upload`), so a
    /// caller is signed in and allowed before anything large is read.
    pub const HOTLIST_MAX_MESSAGE: usize = HOTLIST_CHUNK + (64 << 10);
    /// The largest request any other service takes (tonic's default, stated):
    /// manifests, requests, searches. The CLI checks a file against it first and
    /// names the file.
    pub const DEFAULT_MAX_MESSAGE: usize = 4 << 20;
    /// The largest request of the `Auth` and `Users` services: names, passwords
    /// and roles fit in far less; checked on the length prefix before the body is read.
    pub const AUTH_MAX_MESSAGE: usize = 64 << 10;
    /// The size a paged or streamed reply aims under (audit tail pages, report
    /// chunks): well inside a client's 4 MiB decode limit.
    pub const REPLY_PAGE_BYTES: usize = 1 << 20;
    /// The largest `MediaChunk` (`Fleet.Media`, `Peer.Live`): one fMP4
    /// fragment of one frame; the agent drops a larger frame and its stream
    /// waits for the next keyframe.
    pub const MEDIA_MAX_MESSAGE: usize = 4 << 20;
    /// The largest fMP4 fragment a `MediaChunk` carries.
    pub const MEDIA_MAX_FRAGMENT: usize = MEDIA_MAX_MESSAGE - (64 << 10);
    /// The longest `Viewing.Live` with `seconds` set (a day); 0 runs until
    /// the viewer goes.
    pub const LIVE_MAX_SECONDS: u32 = 86_400;
}

/// The kinds of messages on the agent's control stream, typed at both ends. The
/// wire carries their names (`Report.kind`, `Query.kind`), so an agent and a
/// controller of different versions still talk; a name one end does not know is
/// an unknown kind there, never a silent match.
pub mod kinds {
    /// What an agent reports (`Report.kind`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ReportKind {
        /// The agent's and its cameras' health (kept once per agent, the latest).
        Health,
        /// A camera's active recording window (input of the public log).
        Windows,
        /// A hotlist match (stored as an alert).
        Alert,
    }

    impl ReportKind {
        /// Every kind.
        pub const ALL: [ReportKind; 3] =
            [ReportKind::Health, ReportKind::Windows, ReportKind::Alert];

        /// The name on the wire.
        pub fn as_str(self) -> &'static str {
            match self {
                ReportKind::Health => "health",
                ReportKind::Windows => "windows",
                ReportKind::Alert => "alert",
            }
        }

        /// The kind a wire name stands for.
        pub fn parse(s: &str) -> Option<ReportKind> {
            Self::ALL.into_iter().find(|k| k.as_str() == s)
        }
    }

    /// What the controller asks an agent (`Query.kind`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum QueryKind {
        /// Plate reads matching a search (the empty name, as before kinds existed).
        Reads,
        /// A camera's recorded segments in a time range.
        Segments,
        /// The bytes of one segment, a chunk at a time.
        SegmentChunk,
        /// One plate read's JPEG crop.
        Crop,
        /// A recorded range remuxed to fragmented MP4, a chunk at a time.
        Playback,
        /// Open a camera's live stream; the video travels on `Fleet.Media`,
        /// outside the control stream.
        LiveOpen,
    }

    impl QueryKind {
        /// Every kind.
        pub const ALL: [QueryKind; 6] = [
            QueryKind::Reads,
            QueryKind::Segments,
            QueryKind::SegmentChunk,
            QueryKind::Crop,
            QueryKind::Playback,
            QueryKind::LiveOpen,
        ];

        /// The name on the wire.
        pub fn as_str(self) -> &'static str {
            match self {
                QueryKind::Reads => "",
                QueryKind::Segments => "segments",
                QueryKind::SegmentChunk => "segment_chunk",
                QueryKind::Crop => "crop",
                QueryKind::Playback => "playback",
                QueryKind::LiveOpen => "live_open",
            }
        }

        /// The kind a wire name stands for.
        pub fn parse(s: &str) -> Option<QueryKind> {
            Self::ALL.into_iter().find(|k| k.as_str() == s)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_kind_round_trips_and_names_are_the_wire_format() {
            for k in ReportKind::ALL {
                assert_eq!(ReportKind::parse(k.as_str()), Some(k));
            }
            for k in QueryKind::ALL {
                assert_eq!(QueryKind::parse(k.as_str()), Some(k));
            }
            assert_eq!(ReportKind::Health.as_str(), "health");
            assert_eq!(QueryKind::Reads.as_str(), "");
            assert_eq!(QueryKind::SegmentChunk.as_str(), "segment_chunk");
            assert_eq!(ReportKind::parse("Health"), None);
            assert_eq!(QueryKind::parse("crops"), None);
        }
    }
}
