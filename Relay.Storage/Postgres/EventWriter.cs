using System.Text;
using Npgsql;
using NpgsqlTypes;
using Relay.Storage.Model;

namespace Relay.Storage.Postgres;

/// What happened to one event of a batch.
public enum WriteOutcome
{
    Stored,
    Duplicate,
    /// Replaceable/addressable event older than (or tied and higher id than) the one stored.
    Superseded,
    /// Its author deleted it (NIP-09) or asked to vanish (NIP-62): refused, not stored.
    Deleted,
    /// Stored, then removed by a deletion or vanish request later in the same batch.
    DeletedInBatch,
}

/// One batch's outcomes (in order), the stored events its deletion requests removed, and its commit position.
public sealed record WriteResult(WriteOutcome[] Outcomes, IReadOnlyCollection<string> Removed, long Position);

/// Writes batches of events in one transaction, then inserts with ON CONFLICT DO NOTHING …
/// RETURNING, so each event gets its true outcome, and applies the replaceable/addressable rule
/// (newest wins, ties keep the lowest id) in the same transaction. Two ways in, same SQL after:
/// - a large batch is binary-COPYed into session-local staging tables (the cheapest way to move
///   many rows), then inserted from them, in an explicit transaction (six round trips);
/// - a small batch (a quiet relay: one event at a time) is sent as arrays to unnest(), all
///   statements in one NpgsqlBatch, which PostgreSQL runs as one implicit transaction: one round
///   trip, so a lone event is acknowledged a few milliseconds sooner.
/// Owns one connection (the staging tables are per session); not thread-safe: one writer loop.
public sealed class EventWriter(NpgsqlDataSource db, string? relayUrl = null, int copyFromBatchSize = EventWriter.DefaultCopyFromBatchSize) : IAsyncDisposable
{
    /// Batches of at least this many events go through COPY.
    public const int DefaultCopyFromBatchSize = 32;

    private NpgsqlConnection? _conn;

    private const string CreateStaging = """
        CREATE TEMP TABLE IF NOT EXISTS staging_events (
            id bytea, pubkey bytea, created_at bigint, kind integer, d_tag bytea, expiration bigint,
            raw bytea COMPRESSION lz4   -- as events.raw: pglz here cost ~4% of PostgreSQL's ingest CPU (perf)
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS staging_tags (
            event_id bytea, name "char", value bytea, created_at bigint, kind integer
        ) ON COMMIT DELETE ROWS;
        """;

    // The rows of a batch, as the two sources the statements below read from.
    private const string StagedEvents = "staging_events s";
    private const string StagedTags = "staging_tags";
    private const string ArrayEvents =
        "unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::integer[], $5::bytea[], $6::bigint[], $7::bytea[]) AS s(id, pubkey, created_at, kind, d_tag, expiration, raw)";
    private const string ArrayTags =
        "(SELECT event_id, name::\"char\" AS name, value, created_at, kind FROM unnest($8::bytea[], $9::text[], $10::bytea[], $11::bigint[], $12::integer[]) AS u(event_id, name, value, created_at, kind))";
    private const string ArrayKeys = "unnest($1::bytea[], $2::integer[], $3::bytea[]) AS s(pubkey, kind, d_tag)";

    // Serialise concurrent writers (other loops, other relay processes) on the same replaceable
    // key, so the "newest wins" cleanup below sees every competing version.
    private static string LockReplaceable(string keys) => $"""
        SELECT pg_advisory_xact_lock(k) FROM (
            SELECT DISTINCT hashtextextended(encode(pubkey, 'hex') || ':' || kind || ':' || encode(d_tag, 'hex'), 0) AS k
            FROM {keys} WHERE d_tag IS NOT NULL ORDER BY 1) keys
        """;

    // Rows whose author deleted them (NIP-09 `e` or `a`) or vanished (NIP-62) are not inserted
    // and come back flagged; the look-ups are primary-key probes into tables that are usually tiny.
    private static string Insert(string events, string tags) => $"""
        WITH blocked AS (
            SELECT s.id FROM {events}
            WHERE (s.kind NOT IN (5, 62) AND EXISTS (SELECT 1 FROM deleted_events d WHERE d.event_id = s.id AND d.pubkey = s.pubkey))
               OR (s.kind <> 62 AND EXISTS (SELECT 1 FROM vanished v WHERE v.pubkey = s.pubkey AND v.until >= s.created_at))
               OR (s.d_tag IS NOT NULL AND EXISTS (SELECT 1 FROM deleted_addresses a
                   WHERE a.pubkey = s.pubkey AND a.kind = s.kind AND a.d_tag = s.d_tag AND a.until >= s.created_at))),
        ins AS (
            INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, raw)
            SELECT s.id, s.pubkey, s.created_at, s.kind, s.d_tag, s.expiration, s.raw FROM {events}
            WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.id = s.id)
            ON CONFLICT (id) DO NOTHING
            RETURNING id),
        t AS (
            INSERT INTO tags (event_id, name, value, created_at, kind)
            SELECT st.event_id, st.name, st.value, st.created_at, st.kind FROM {tags} st JOIN ins ON ins.id = st.event_id)
        SELECT id, false FROM ins UNION ALL SELECT id, true FROM blocked
        """;

    // Deletion and vanish requests must see every event that was sent before them, whichever
    // writer (or relay process) stores it, and every event after them must see their tombstones.
    // A batch with requests takes this lock exclusively, every other batch shared, first thing in
    // its transaction: a request waits for the inserts in flight to commit, and inserts begun
    // after it wait for it. Without it, a kind 5 committed beside the insert of the event it
    // names could miss it (neither sees the other's uncommitted row) and the event would stay.
    private const long DeletionFenceKey = 0x6e6f7374_72660905;
    private static string Fence(BatchRows rows) =>
        rows.AnyDeletion ? $"SELECT pg_advisory_xact_lock({DeletionFenceKey})" : $"SELECT pg_advisory_xact_lock_shared({DeletionFenceKey})";

    // NIP-09 `e`: the named events of the same author go (a deletion can't delete a deletion), and
    // stay refused. Rows: (deletion's author, named id, the deletion's own id). A deletion that is
    // not stored (the insert refused it, or a request to vanish in the batch removed it) deletes
    // nothing, as the events that other processes and the hot tier hear of say.
    private const string DeleteById = """
        WITH r AS (SELECT DISTINCT r.pubkey, r.id FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) AS r(pubkey, id, request)
                   WHERE EXISTS (SELECT 1 FROM events q WHERE q.id = r.request)),
        mark AS (INSERT INTO deleted_events (event_id, pubkey) SELECT id, pubkey FROM r ON CONFLICT DO NOTHING),
        gone AS (DELETE FROM events e USING r WHERE e.id = r.id AND e.pubkey = r.pubkey AND e.kind NOT IN (5, 62) RETURNING e.id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT id FROM gone
        """;

    // NIP-09 `a`: versions of the author's address up to the deletion's created_at.
    private const string DeleteByAddress = """
        WITH r AS (SELECT r.pubkey, r.kind, r.d_tag, max(r.until) AS until
                   FROM unnest($1::bytea[], $2::integer[], $3::bytea[], $4::bigint[], $5::bytea[]) AS r(pubkey, kind, d_tag, until, request)
                   WHERE EXISTS (SELECT 1 FROM events q WHERE q.id = r.request)
                   GROUP BY 1, 2, 3),
        mark AS (INSERT INTO deleted_addresses (pubkey, kind, d_tag, until) SELECT * FROM r
                 ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = GREATEST(deleted_addresses.until, EXCLUDED.until)),
        gone AS (DELETE FROM events e USING r
                 WHERE e.pubkey = r.pubkey AND e.kind = r.kind AND e.d_tag = r.d_tag AND e.created_at <= r.until AND e.kind <> 5
                 RETURNING e.id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT id FROM gone
        """;

    // NIP-62: everything of the author up to the request's created_at (deletions included; the
    // request itself stays as the record), and the gift wraps addressed to them.
    private const string Vanish = """
        WITH r AS (SELECT pubkey, max(until) AS until FROM unnest($1::bytea[], $2::bigint[]) AS r(pubkey, until) GROUP BY 1),
        mark AS (INSERT INTO vanished (pubkey, until) SELECT * FROM r
                 ON CONFLICT (pubkey) DO UPDATE SET until = GREATEST(vanished.until, EXCLUDED.until)),
        gone AS (DELETE FROM events e USING r
                 WHERE e.kind <> 62 AND (
                     (e.pubkey = r.pubkey AND e.created_at <= r.until)
                  OR (e.kind = 1059 AND e.created_at <= r.until
                      AND e.id IN (SELECT t.event_id FROM tags t WHERE t.name = 'p' AND t.value = r.pubkey)))
                 RETURNING e.id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT id FROM gone
        """;

    // The batch's number in commit order (see 006_commit_position.sql): the live/stored fence.
    private const string TakePosition = "UPDATE commit_position SET seq = seq + 1 RETURNING seq";

    private static string DeleteSuperseded(string keys) => $"""
        WITH gone AS (
            DELETE FROM events e
            USING (SELECT DISTINCT pubkey, kind, d_tag FROM {keys} WHERE d_tag IS NOT NULL) g
            WHERE e.pubkey = g.pubkey AND e.kind = g.kind AND e.d_tag = g.d_tag
              AND EXISTS (SELECT 1 FROM events w
                          WHERE w.pubkey = e.pubkey AND w.kind = e.kind AND w.d_tag = e.d_tag
                            AND (w.created_at > e.created_at OR (w.created_at = e.created_at AND w.id < e.id)))
            RETURNING e.id),
        t AS (DELETE FROM tags USING gone WHERE tags.event_id = gone.id)
        SELECT id FROM gone
        """;

    private static readonly string CopyLock = LockReplaceable(StagedEvents);
    private static readonly string CopyInsert = Insert(StagedEvents, StagedTags);
    private static readonly string CopyDelete = DeleteSuperseded(StagedEvents);
    private static readonly string ArrayLock = LockReplaceable(ArrayKeys);
    private static readonly string ArrayInsert = Insert(ArrayEvents, ArrayTags);
    private static readonly string ArrayDelete = DeleteSuperseded(ArrayKeys);

    /// What a batch's statements reported, by event id.
    private sealed class BatchResult
    {
        public readonly HashSet<string> Inserted = new(StringComparer.Ordinal);
        public readonly HashSet<string> Blocked = new(StringComparer.Ordinal);
        public readonly HashSet<string> Superseded = new(StringComparer.Ordinal);
        public readonly HashSet<string> Deleted = new(StringComparer.Ordinal);
        public long Position;
    }

    /// Stores the batch and returns one outcome per event, in order. Throws if the transaction
    /// failed; then nothing of the batch was committed.
    public async Task<WriteOutcome[]> WriteAsync(IReadOnlyList<NostrEvent> batch, CancellationToken ct = default) =>
        (await WriteWithDeletionsAsync(batch, ct)).Outcomes;

    /// As <see cref="WriteAsync"/>, with the ids of stored events that deletion or vanish requests
    /// in the batch removed (for the in-memory caches that still know them), and the batch's
    /// commit position (what live deliveries of its events carry, see <see cref="NostrEvent.CommitSeq"/>).
    public async Task<WriteResult> WriteWithDeletionsAsync(
        IReadOnlyList<NostrEvent> batch, CancellationToken ct = default)
    {
        if (batch.Count == 0) return new([], [], 0);
        try
        {
            var rows = new BatchRows(batch, relayUrl);
            var result = new BatchResult();
            if (batch.Count >= copyFromBatchSize) await CopyThenInsertAsync(rows, result, ct);
            else await InsertArraysAsync(rows, result, ct);
            var outcomes = new WriteOutcome[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var id = batch[i].Id;
                outcomes[i] = result.Blocked.Contains(id) ? WriteOutcome.Deleted
                    : result.Superseded.Contains(id) ? WriteOutcome.Superseded
                    : result.Inserted.Contains(id) ? (result.Deleted.Contains(id) ? WriteOutcome.DeletedInBatch : WriteOutcome.Stored)
                    : WriteOutcome.Duplicate;
            }
            return new(outcomes, result.Deleted, result.Position);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException && !ct.IsCancellationRequested)
        {
            // The connection may be broken (server restart); drop it so the next batch reconnects.
            await ResetAsync();
            throw;
        }
    }

    private async Task CopyThenInsertAsync(BatchRows rows, BatchResult result, CancellationToken ct)
    {
        var conn = await ConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var fence = new NpgsqlCommand(Fence(rows), conn, tx)) await fence.ExecuteNonQueryAsync(ct);
        await using (var copy = await conn.BeginBinaryImportAsync(
            "COPY staging_events (id, pubkey, created_at, kind, d_tag, expiration, raw) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < rows.Ids.Length; i++)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(rows.Ids[i], NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(rows.Pubkeys[i], NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(rows.CreatedAts[i], NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(rows.Kinds[i], NpgsqlDbType.Integer, ct);
                if (rows.DTags[i] is { } d) await copy.WriteAsync(d, NpgsqlDbType.Bytea, ct); else await copy.WriteNullAsync(ct);
                if (rows.Expirations[i] is { } exp) await copy.WriteAsync(exp, NpgsqlDbType.Bigint, ct); else await copy.WriteNullAsync(ct);
                await copy.WriteAsync(rows.Raws[i], NpgsqlDbType.Bytea, ct);
            }
            await copy.CompleteAsync(ct);
        }
        await using (var copy = await conn.BeginBinaryImportAsync(
            "COPY staging_tags (event_id, name, value, created_at, kind) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < rows.TagEventIds.Count; i++)
            {
                await copy.StartRowAsync(ct);
                await copy.WriteAsync(rows.TagEventIds[i], NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(rows.TagNames[i][0], NpgsqlDbType.InternalChar, ct);
                await copy.WriteAsync(rows.TagValues[i], NpgsqlDbType.Bytea, ct);
                await copy.WriteAsync(rows.TagCreatedAts[i], NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync(rows.TagKinds[i], NpgsqlDbType.Integer, ct);
            }
            await copy.CompleteAsync(ct);
        }

        // Everything after the COPYs in one round trip; the commit follows.
        await using (var statements = new NpgsqlBatch(conn, tx))
        {
            if (rows.AnyReplaceable) statements.BatchCommands.Add(new NpgsqlBatchCommand(CopyLock));
            statements.BatchCommands.Add(new NpgsqlBatchCommand(CopyInsert));
            if (rows.AnyReplaceable) statements.BatchCommands.Add(new NpgsqlBatchCommand(CopyDelete));
            AddDeletionsAndPosition(statements, rows);
            await using var r = await statements.ExecuteReaderAsync(ct);
            await ReadResultsAsync(r, rows, result, ct);
        }
        await tx.CommitAsync(ct);
    }

    private async Task InsertArraysAsync(BatchRows rows, BatchResult result, CancellationToken ct)
    {
        var conn = await ConnectionAsync(ct);
        // No explicit transaction: a batch ends with one Sync, so PostgreSQL runs its statements
        // as one implicit transaction (all or nothing, advisory locks held to the end).
        await using var batch = new NpgsqlBatch(conn);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(Fence(rows)));
        if (rows.AnyReplaceable) batch.BatchCommands.Add(KeysCommand(ArrayLock, rows));
        var insert = new NpgsqlBatchCommand(ArrayInsert);
        AddArray(insert, rows.Ids, NpgsqlDbType.Bytea);
        AddArray(insert, rows.Pubkeys, NpgsqlDbType.Bytea);
        AddArray(insert, rows.CreatedAts, NpgsqlDbType.Bigint);
        AddArray(insert, rows.Kinds, NpgsqlDbType.Integer);
        AddArray(insert, rows.DTags, NpgsqlDbType.Bytea);
        AddArray(insert, rows.Expirations, NpgsqlDbType.Bigint);
        AddArray(insert, rows.Raws, NpgsqlDbType.Bytea);
        AddArray(insert, rows.TagEventIds.ToArray(), NpgsqlDbType.Bytea);
        AddArray(insert, rows.TagNames.ToArray(), NpgsqlDbType.Text);
        AddArray(insert, rows.TagValues.ToArray(), NpgsqlDbType.Bytea);
        AddArray(insert, rows.TagCreatedAts.ToArray(), NpgsqlDbType.Bigint);
        AddArray(insert, rows.TagKinds.ToArray(), NpgsqlDbType.Integer);
        batch.BatchCommands.Add(insert);
        if (rows.AnyReplaceable) batch.BatchCommands.Add(KeysCommand(ArrayDelete, rows));
        AddDeletionsAndPosition(batch, rows);

        await using var reader = await batch.ExecuteReaderAsync(ct);
        await reader.NextResultAsync(ct);   // past the fence's row
        await ReadResultsAsync(reader, rows, result, ct);
    }

    /// Reads what the statements after the deletion fence returned, in the order they were added.
    private static async Task ReadResultsAsync(NpgsqlDataReader r, BatchRows rows, BatchResult result, CancellationToken ct)
    {
        if (rows.AnyReplaceable) await r.NextResultAsync(ct);   // past the lock's rows
        await ReadInsertedAsync(r, result, ct);
        if (rows.AnyReplaceable && await r.NextResultAsync(ct)) await ReadIdsAsync(r, result.Superseded, ct);
        if (rows.AnyDeletion)
            for (var i = 0; i < 3; i++)
                if (await r.NextResultAsync(ct)) await ReadIdsAsync(r, result.Deleted, ct);
        if (!await r.NextResultAsync(ct) || !await r.ReadAsync(ct)) throw new InvalidOperationException("the commit position was not returned");
        result.Position = r.GetInt64(0);
    }

    /// The deletion and vanish statements of a batch (if it has requests), each returning the ids it
    /// removed, then the commit position, last: its row lock is held only until the commit.
    private static void AddDeletionsAndPosition(NpgsqlBatch batch, BatchRows rows)
    {
        if (rows.AnyDeletion)
        {
            // Vanish first: a deletion it removes in the same batch (its author's, dated before it)
            // then has no effect, as when the two arrive through another process, where only
            // the events that stayed stored are published.
            batch.BatchCommands.Add(Command(Vanish,
                (rows.VanishAuthors.ToArray(), NpgsqlDbType.Bytea), (rows.VanishUntil.ToArray(), NpgsqlDbType.Bigint)));
            batch.BatchCommands.Add(Command(DeleteById,
                (rows.DeleteByIdAuthors.ToArray(), NpgsqlDbType.Bytea), (rows.DeleteByIdTargets.ToArray(), NpgsqlDbType.Bytea),
                (rows.DeleteByIdRequests.ToArray(), NpgsqlDbType.Bytea)));
            batch.BatchCommands.Add(Command(DeleteByAddress,
                (rows.DeleteAddressAuthors.ToArray(), NpgsqlDbType.Bytea), (rows.DeleteAddressKinds.ToArray(), NpgsqlDbType.Integer),
                (rows.DeleteAddressDTags.ToArray(), NpgsqlDbType.Bytea), (rows.DeleteAddressUntil.ToArray(), NpgsqlDbType.Bigint),
                (rows.DeleteAddressRequests.ToArray(), NpgsqlDbType.Bytea)));
        }
        batch.BatchCommands.Add(new NpgsqlBatchCommand(TakePosition));
    }

    /// A statement whose parameters are arrays of the given element types, in order.
    private static NpgsqlBatchCommand Command(string sql, params (Array Values, NpgsqlDbType Type)[] arrays)
    {
        var cmd = new NpgsqlBatchCommand(sql);
        foreach (var (values, type) in arrays)
            cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | type, Value = values });
        return cmd;
    }

    private static async Task ReadInsertedAsync(NpgsqlDataReader r, BatchResult result, CancellationToken ct)
    {
        while (await r.ReadAsync(ct))
            (r.GetBoolean(1) ? result.Blocked : result.Inserted).Add(Convert.ToHexStringLower(r.GetFieldValue<byte[]>(0)));
    }

    private static NpgsqlBatchCommand KeysCommand(string sql, BatchRows rows)
    {
        var cmd = new NpgsqlBatchCommand(sql);
        AddArray(cmd, rows.Pubkeys, NpgsqlDbType.Bytea);
        AddArray(cmd, rows.Kinds, NpgsqlDbType.Integer);
        AddArray(cmd, rows.DTags, NpgsqlDbType.Bytea);
        return cmd;
    }

    private static void AddArray<T>(NpgsqlBatchCommand cmd, T[] values, NpgsqlDbType type) =>
        cmd.Parameters.Add(new NpgsqlParameter<T[]>{ NpgsqlDbType = NpgsqlDbType.Array | type, TypedValue = values });

    private static async Task ReadIdsAsync(NpgsqlDataReader r, HashSet<string> into, CancellationToken ct)
    {
        while (await r.ReadAsync(ct)) into.Add(Convert.ToHexStringLower(r.GetFieldValue<byte[]>(0)));
    }

    private async Task<NpgsqlConnection> ConnectionAsync(CancellationToken ct)
    {
        if (_conn is { State: System.Data.ConnectionState.Open }) return _conn;
        await ResetAsync();
        var conn = await db.OpenConnectionAsync(ct);
        await using (var cmd = new NpgsqlCommand(CreateStaging, conn)) await cmd.ExecuteNonQueryAsync(ct);
        _conn = conn;
        return conn;
    }

    private async Task ResetAsync()
    {
        if (_conn is { } c) { _conn = null; await c.DisposeAsync(); }
    }

    public ValueTask DisposeAsync() => _conn?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// A batch as column arrays: one entry per event, and one per indexed tag (single-letter name
/// with a value) with its event's id, created_at and kind copied in for the tag index.
internal sealed class BatchRows
{
    public readonly byte[][] Ids, Pubkeys, Raws;
    public readonly long[] CreatedAts;
    public readonly int[] Kinds;
    /// NULL for regular events, empty for replaceable kinds, the d tag for addressable kinds.
    public readonly byte[]?[] DTags;
    public readonly long?[] Expirations;
    public readonly bool AnyReplaceable;
    public readonly List<byte[]> TagEventIds = [], TagValues = [];
    public readonly List<string> TagNames = [];
    public readonly List<long> TagCreatedAts = [];
    public readonly List<int> TagKinds = [];
    // NIP-09 and NIP-62 requests in the batch, as rows for the deletion statements.
    public bool AnyDeletion;
    public readonly List<byte[]> DeleteByIdAuthors = [], DeleteByIdTargets = [], DeleteByIdRequests = [];
    public readonly List<byte[]> DeleteAddressAuthors = [], DeleteAddressDTags = [], DeleteAddressRequests = [];
    public readonly List<int> DeleteAddressKinds = [];
    public readonly List<long> DeleteAddressUntil = [];
    public readonly List<byte[]> VanishAuthors = [];
    public readonly List<long> VanishUntil = [];

    public BatchRows(IReadOnlyList<NostrEvent> batch, string? relayUrl = null)
    {
        var n = batch.Count;
        (Ids, Pubkeys, Raws, CreatedAts, Kinds, DTags, Expirations) =
            (new byte[n][], new byte[n][], new byte[n][], new long[n], new int[n], new byte[n][], new long?[n]);
        for (var i = 0; i < n; i++)
        {
            var e = batch[i];
            Ids[i] = e.IdBytes();
            Pubkeys[i] = e.PubkeyBytes();
            Raws[i] = e.Raw;
            CreatedAts[i] = e.CreatedAt;
            Kinds[i] = e.Kind;
            DTags[i] = e.Class switch
            {
                KindClass.Replaceable => [],
                KindClass.Addressable => Encoding.UTF8.GetBytes(e.DTag),
                _ => null,
            };
            AnyReplaceable |= DTags[i] is not null;
            Expirations[i] = e.Expiration;
            foreach (var (name, value) in e.IndexedTags())
            {
                TagEventIds.Add(Ids[i]);
                TagNames.Add(name.ToString());
                TagValues.Add(TagValueKey.Encode(value));
                TagCreatedAts.Add(e.CreatedAt);
                TagKinds.Add(e.Kind);
            }
            if (e.Kind == Model.Kinds.Deletion) AddDeletion(e, Pubkeys[i], Ids[i]);
            else if (e.Kind == Model.Kinds.RequestToVanish && DeletionRequests.VanishesHere(e, relayUrl))
            {
                VanishAuthors.Add(Pubkeys[i]);
                VanishUntil.Add(e.CreatedAt);
                AnyDeletion = true;
            }
        }
    }

    private void AddDeletion(NostrEvent e, byte[] author, byte[] request)
    {
        foreach (var id in DeletionRequests.EventIds(e))
        {
            DeleteByIdAuthors.Add(author);
            DeleteByIdTargets.Add(Convert.FromHexString(id));
            DeleteByIdRequests.Add(request);
            AnyDeletion = true;
        }
        foreach (var (kind, d) in DeletionRequests.Addresses(e))
        {
            DeleteAddressAuthors.Add(author);
            DeleteAddressKinds.Add(kind);
            DeleteAddressDTags.Add(Encoding.UTF8.GetBytes(d));
            DeleteAddressUntil.Add(e.CreatedAt);
            DeleteAddressRequests.Add(request);
            AnyDeletion = true;
        }
    }
}
