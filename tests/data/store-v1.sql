-- A gateway store as the first release (commit bd155eb, gateway/store.py SCHEMA) wrote it,
-- with a few events, reads, a hot-list entry, a hit, an alert and an access-log row.
-- No PRAGMA user_version: that release did not set one.
BEGIN TRANSACTION;
CREATE TABLE access_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    query TEXT NOT NULL,
    results INTEGER NOT NULL
);
INSERT INTO "access_log" VALUES(1,1790000100.0,'kim','reads list','case 2026-0042','{"plate": "XYZ987"}',1);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    hit_id INTEGER NOT NULL REFERENCES hits (id),
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
INSERT INTO "alerts" VALUES(1,1,'log','{}',0,1790000010.0,1790000011.0,NULL);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    captured REAL NOT NULL,
    received REAL NOT NULL,
    trigger TEXT NOT NULL,
    battery_v REAL,
    solar_v REAL,
    awake_ms INTEGER,
    frames INTEGER NOT NULL,
    body_sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending, read, failed
    error TEXT,
    response TEXT NOT NULL,
    UNIQUE (camera, sequence)
);
INSERT INTO "events" VALUES(1,'cam-01',1,1790000001.0,1790000002.0,'radar',3.9,5.1,900,3,'0000000000000000000000000000000000000000000000000000000000000001','spool/cam-01/1-abc.evt','read',NULL,'{"event": 1, "camera": "cam-01", "sequence": 1, "frames": 3}');
INSERT INTO "events" VALUES(2,'cam-01',2,1790000002.0,1790000003.0,'radar',3.9,5.1,900,3,'0000000000000000000000000000000000000000000000000000000000000002','spool/cam-01/2-abc.evt','read',NULL,'{"event": 2, "camera": "cam-01", "sequence": 2, "frames": 3}');
INSERT INTO "events" VALUES(3,'cam-01',3,1790000003.0,1790000004.0,'radar',3.9,5.1,900,3,'0000000000000000000000000000000000000000000000000000000000000003','spool/cam-01/3-abc.evt','pending',NULL,'{"event": 3, "camera": "cam-01", "sequence": 3, "frames": 3}');
CREATE TABLE heartbeats (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    received REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE hits (
    id INTEGER PRIMARY KEY,
    read_id TEXT NOT NULL,        -- kept after the read itself is purged: the hit is the audit record
    entry_id INTEGER NOT NULL,
    entry TEXT NOT NULL,          -- the hot-list entry as it was when the hit was made
    match_kind TEXT NOT NULL,     -- exact, wildcard, confusion, alternate
    matched_text TEXT NOT NULL,
    created REAL NOT NULL,
    disposition TEXT,             -- NULL while open
    disposition_note TEXT,
    disposition_user TEXT,
    disposition_at REAL,
    UNIQUE (read_id, entry_id)
);
INSERT INTO "hits" VALUES(1,'read-2',1,'{"id": 1, "source": "manual", "plate": "XYZ987", "state": "IL", "case_number": "2026-0042"}','exact','XYZ987',1790000010.0,NULL,NULL,NULL,NULL);
CREATE TABLE hotlist (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    plate TEXT NOT NULL,
    state TEXT,
    category TEXT NOT NULL,
    case_number TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    contact TEXT NOT NULL,
    instructions TEXT NOT NULL,
    expires TEXT NOT NULL,
    added REAL NOT NULL
);
INSERT INTO "hotlist" VALUES(1,'manual','XYZ987','IL','stolen','2026-0042','stolen vehicle','Sgt. Diaz','dispatch','do not stop; call dispatch','2099-01-01',1790000000.0);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('hotlist_version','1');
CREATE TABLE purge_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    oldest REAL,
    newest REAL,
    ids_sha256 TEXT NOT NULL      -- SHA-256 of the sorted purged ids, one per line: proof of deletion
);
CREATE TABLE reads (
    id TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL UNIQUE REFERENCES events (id),
    camera TEXT NOT NULL,
    site TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    heading REAL NOT NULL,
    captured REAL NOT NULL,
    received REAL NOT NULL,
    text TEXT NOT NULL,
    confidence REAL NOT NULL,
    alternates TEXT NOT NULL,
    box TEXT NOT NULL,
    frame_path TEXT NOT NULL,
    crop_path TEXT NOT NULL,
    frame_sha256 TEXT NOT NULL,
    crop_sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,   -- frame + crop, for the bounded sync queue
    read_at REAL NOT NULL,
    sync_tried INTEGER NOT NULL DEFAULT 0,  -- an upload was started: check the target before sending
    synced_at REAL,                     -- NULL until every object is in the storage target
    quarantined TEXT                    -- why the local copy failed its checksum, if it did
);
INSERT INTO "reads" VALUES('read-1',1,'cam-01','main-st',40.11,-88.21,90.0,1790000001.0,1790000002.0,'ABC1234',0.93,'[]','[10, 20, 110, 50]','reads/1.jpg','reads/1-crop.jpg','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',12345,1790000003.0,0,NULL,NULL);
INSERT INTO "reads" VALUES('read-2',2,'cam-01','main-st',40.11,-88.21,90.0,1790000002.0,1790000003.0,'XYZ987',0.93,'[]','[10, 20, 110, 50]','reads/2.jpg','reads/2-crop.jpg','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',12345,1790000004.0,0,NULL,NULL);
CREATE INDEX events_pending ON events (status, id);
CREATE INDEX reads_unsynced ON reads (synced_at, captured);
CREATE INDEX reads_text ON reads (text);
CREATE INDEX reads_captured ON reads (captured);
CREATE INDEX heartbeats_camera ON heartbeats (camera, received);
CREATE INDEX hotlist_source ON hotlist (source);
CREATE INDEX alerts_due ON alerts (delivered_at, next_at);
COMMIT;
