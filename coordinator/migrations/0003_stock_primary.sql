-- A stock Seafile primary ([primary] database_url): the library's owner on the primary, and the
-- one sync token the coordinator minted for each library in the primary's RepoUserToken.

-- RepoOwner.owner_id (or OrgRepo.user) at the last poll; NULL for a shared-token primary, or when
-- the library has no owner (no token can then be minted).
ALTER TABLE seaf_backup_library ADD COLUMN IF NOT EXISTS owner VARCHAR(255) NULL;

-- Written before the token is inserted into the primary and deleted after it is removed there, so
-- every token the backup ever placed on the primary is known here (failover removes them).
CREATE TABLE IF NOT EXISTS seaf_backup_token (
  repo_id CHAR(36) NOT NULL PRIMARY KEY,
  email VARCHAR(255) NOT NULL,
  token CHAR(40) NOT NULL,
  -- Unix ms: a token refused by the primary soon after it was minted is a real failure, an older
  -- one was revoked and is simply replaced.
  minted_at BIGINT NOT NULL
) ENGINE = INNODB;
