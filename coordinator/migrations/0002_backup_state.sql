-- The backup's own state, one row per library of the primary. MySQL is the truth: the Redis queue
-- can always be rebuilt from these rows (see `needs_work` in coordinator/src/db.rs).
CREATE TABLE IF NOT EXISTS seaf_backup_library (
  repo_id CHAR(36) NOT NULL PRIMARY KEY,
  -- Where fs objects and blocks live: the origin library of a virtual library.
  store_id CHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  is_virtual TINYINT NOT NULL DEFAULT 0,
  -- The head last seen on the primary (poll or a finished job).
  primary_head CHAR(40) NULL,
  -- The head published in Branch (kept equal to it, in the same transactions).
  backup_head CHAR(40) NULL,
  -- Increases with every published head.
  publish_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  -- Unix ms: the last notification; the lease time of the job behind the last success (every
  -- notification before it is covered, since a job reads the primary's head after its lease).
  notified_at BIGINT NULL,
  synced_from BIGINT NULL,
  -- Unix ms since the backup has been behind the primary; NULL when it is not.
  behind_since BIGINT NULL,
  last_success BIGINT NULL,
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  last_error TEXT NULL,
  failed TINYINT NOT NULL DEFAULT 0,
  -- The primary head that failed: a different one is worth another attempt.
  failed_head CHAR(40) NULL,
  force_next TINYINT NOT NULL DEFAULT 0,
  -- Gone from the primary's list; its backup data (objects, Branch row) is kept.
  deleted TINYINT NOT NULL DEFAULT 0,
  -- Unix ms of the poll that last listed the library.
  seen_at BIGINT NOT NULL DEFAULT 0
) ENGINE = INNODB;

-- Objects a forced sync skipped because the primary lacks them or serves them corrupt.
CREATE TABLE IF NOT EXISTS seaf_backup_skipped (
  repo_id CHAR(36) NOT NULL,
  kind VARCHAR(8) NOT NULL,
  object_id CHAR(40) NOT NULL,
  reason TEXT NOT NULL,
  recorded_at BIGINT NOT NULL,
  PRIMARY KEY (repo_id, kind, object_id)
) ENGINE = INNODB;
