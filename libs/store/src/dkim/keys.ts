/**
 * Per-domain DKIM keys (RFC 6376 §3.6.2: a selector names one key; several
 * selectors per domain allow rotation). The private key arrives here already
 * encrypted (libs/dkim); this module only stores and finds rows.
 */
import type { Pool } from "../db.ts";

export type DkimAlgorithm = "ed25519" | "rsa";

export interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  privateKeyEncrypted: string;
  publicKey: string;
  active: boolean;
  createdAt: Date;
}

interface Row {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  private_key_encrypted: string;
  public_key: string;
  active: boolean;
  created_at: Date;
}

function toKey(r: Row): DkimKeyRow {
  return {
    domain: r.domain,
    selector: r.selector,
    algorithm: r.algorithm,
    privateKeyEncrypted: r.private_key_encrypted,
    publicKey: r.public_key,
    active: r.active,
    createdAt: r.created_at,
  };
}

export class DkimKeyExistsError extends Error {
  constructor(
    readonly domain: string,
    readonly selector: string,
  ) {
    super(`DKIM selector ${selector} already exists for ${domain}`);
    this.name = "DkimKeyExistsError";
  }
}

export class DkimKeys {
  constructor(private readonly pool: Pool) {}

  async add(key: Omit<DkimKeyRow, "createdAt" | "active">): Promise<DkimKeyRow> {
    try {
      const { rows } = await this.pool.query<Row>(
        `INSERT INTO dkim_keys (domain, selector, algorithm, private_key_encrypted, public_key)
         VALUES ($1, $2, $3, $4, $5) RETURNING *`,
        [key.domain.toLowerCase(), key.selector, key.algorithm, key.privateKeyEncrypted, key.publicKey],
      );
      return toKey(rows[0]!);
    } catch (err) {
      if ((err as { code?: string }).code === "23505") throw new DkimKeyExistsError(key.domain, key.selector);
      throw err;
    }
  }

  async list(): Promise<DkimKeyRow[]> {
    const { rows } = await this.pool.query<Row>("SELECT * FROM dkim_keys ORDER BY domain, created_at");
    return rows.map(toKey);
  }

  /** The key that signs a domain's mail now: the newest active one. */
  async signingKey(domain: string): Promise<DkimKeyRow | undefined> {
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM dkim_keys WHERE domain = $1 AND active
        ORDER BY created_at DESC, selector DESC LIMIT 1`,
      [domain.toLowerCase()],
    );
    return rows[0] && toKey(rows[0]);
  }

  async setActive(domain: string, selector: string, active: boolean): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "UPDATE dkim_keys SET active = $3 WHERE domain = $1 AND selector = $2",
      [domain.toLowerCase(), selector, active],
    );
    return (rowCount ?? 0) > 0;
  }
}
