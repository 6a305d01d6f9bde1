/**
 * Moving mail in and out in bulk (issue 22): mailctl export/import and the
 * IMAP migration. Pages of a mailbox's rows for export, the dedupe check of
 * an import (is this content already in the mailbox?), and the migration's
 * per-folder state (UIDVALIDITY, last UID copied, source→our UID map).
 */
import type { Pool } from "../db.ts";
import { decodeFlags } from "../messages/flags.ts";

export interface ExportRow {
  uid: number;
  blobKey: string;
  size: number;
  /** IMAP flag names (system flags and keywords). */
  flags: string[];
  internalDate: Date;
}

export interface MigrationFolderState {
  uidValidity: number;
  lastUid: number;
  /** Source UID → our UID, for flag synchronisation on later runs. */
  uidMap: Record<string, number>;
}

export class Transfers {
  constructor(private readonly pool: Pool) {}

  /** Rows of a mailbox with uid > afterUid, ascending, at most `limit`. */
  async exportPage(mailboxId: number, afterUid: number, limit: number): Promise<ExportRow[]> {
    const { rows } = await this.pool.query<{
      uid: string;
      blob_key: string;
      size: string;
      flags: number;
      keywords: string[];
      internal_date: Date;
    }>(
      `SELECT uid, blob_key, size, flags, keywords, internal_date FROM messages
        WHERE mailbox_id = $1 AND uid > $2 ORDER BY uid LIMIT $3`,
      [mailboxId, afterUid, limit],
    );
    return rows.map((r) => ({
      uid: Number(r.uid),
      blobKey: r.blob_key,
      size: Number(r.size),
      flags: decodeFlags(r.flags, r.keywords),
      internalDate: r.internal_date,
    }));
  }

  /** Which of the content keys (sha256 of the stored bytes) the mailbox already holds: an import's dedupe. */
  async presentIn(mailboxId: number, blobKeys: readonly string[]): Promise<Set<string>> {
    if (blobKeys.length === 0) return new Set();
    const { rows } = await this.pool.query<{ blob_key: string }>(
      "SELECT DISTINCT blob_key FROM messages WHERE mailbox_id = $1 AND blob_key = ANY($2::text[])",
      [mailboxId, blobKeys],
    );
    return new Set(rows.map((r) => r.blob_key));
  }

  async migrationState(
    accountId: number,
    source: string,
    folder: string,
  ): Promise<MigrationFolderState | undefined> {
    const { rows } = await this.pool.query<{
      uidvalidity: string;
      last_uid: string;
      uid_map: Record<string, number>;
    }>(
      "SELECT uidvalidity, last_uid, uid_map FROM migration_folders WHERE account_id = $1 AND source = $2 AND folder = $3",
      [accountId, source, folder],
    );
    const r = rows[0];
    return r
      ? { uidValidity: Number(r.uidvalidity), lastUid: Number(r.last_uid), uidMap: r.uid_map }
      : undefined;
  }

  /** Saves a folder's state (after each batch, so an interrupted run resumes where it stopped). */
  async saveMigrationState(
    accountId: number,
    source: string,
    folder: string,
    s: MigrationFolderState,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO migration_folders (account_id, source, folder, uidvalidity, last_uid, uid_map, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (account_id, source, folder)
       DO UPDATE SET uidvalidity = $4, last_uid = $5, uid_map = $6, updated_at = now()`,
      [accountId, source, folder, s.uidValidity, s.lastUid, JSON.stringify(s.uidMap)],
    );
  }
}
