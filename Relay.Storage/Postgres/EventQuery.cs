using System.Buffers;
using System.Text;
using Npgsql;
using NpgsqlTypes;
using Relay.Storage.Model;

namespace Relay.Storage.Postgres;

/// Turns the filters of one REQ into one parameterised SQL statement: each filter is a
/// sub-select with its own limit, newest first (ties: lowest id first, as NIP-01 asks),
/// and the union is sorted the same way. Results are the stored raw JSON bytes.
/// Receives one stored event's JSON; the memory is only valid until the returned task completes.
public delegate ValueTask RawEventHandler(ReadOnlyMemory<byte> raw);

/// What a stored query returned: how many events, and the commit position its snapshot saw (the
/// live fence: events numbered above it were not visible to it). Stale: the database was behind
/// the position the caller asked for, and nothing was returned.
public readonly record struct StoredAnswer(int Rows, long Position, bool Stale);

public static class EventQuery
{
    public static NpgsqlCommand Build(IReadOnlyList<NostrFilter> filters, int maxLimit, long now)
    {
        var cmd = new NpgsqlCommand();
        var live = filters.Where(f => !f.MatchesNothing && Math.Min(f.Limit ?? maxLimit, maxLimit) > 0).ToList();
        if (live.Count == 0) return cmd;   // nothing to ask: CommandText stays empty
        var single = live.Count == 1;
        var sql = new StringBuilder();
        foreach (var f in live)
        {
            if (sql.Length > 0) sql.Append(" UNION ");
            sql.Append('(');
            AppendFilter(sql, cmd, f, Math.Min(f.Limit ?? maxLimit, maxLimit), now, single ? FilterSelect.Raw : FilterSelect.IdCreatedAtRaw);
            sql.Append(')');
        }
        var query = single
            ? sql.ToString(1, sql.Length - 2)
            : $"SELECT q.raw FROM ({sql}) q ORDER BY q.created_at DESC, q.id ASC";
        // The first row is the commit position (8 bytes, big-endian), read in the same statement,
        // hence the same snapshot (the live fence, see 006_commit_position.sql). Without parallel
        // workers (off for the relay's connections) Append runs its branches in order. A column on
        // every row instead (a LATERAL join) cost ~10% of REQs/s in the query load test.
        cmd.CommandText = $"SELECT int8send(seq) FROM commit_position UNION ALL ({query})";
        return cmd;
    }

    /// NIP-45 COUNT: how many stored events match any of the filters, without limits.
    /// <paramref name="hiddenKinds"/>: kinds a filter that names none must not count (private
    /// kinds the client may not see; a count can't be filtered event by event).
    public static NpgsqlCommand BuildCount(IReadOnlyList<NostrFilter> filters, long now, int[]? hiddenKinds = null)
    {
        var cmd = new NpgsqlCommand();
        var sql = new StringBuilder();
        foreach (var f in filters.Where(f => !f.MatchesNothing))
        {
            if (sql.Length > 0) sql.Append(" UNION ");
            AppendFilter(sql, cmd, f, limit: null, now, FilterSelect.IdOnly);
            if (f.Kinds is null && hiddenKinds is { Length: > 0 })
                sql.Append(" AND e.kind <> ALL(").Append(Param(cmd, hiddenKinds, NpgsqlDbType.Array | NpgsqlDbType.Integer)).Append(')');
        }
        // The commit position in the same statement (same snapshot), for a replica's caller.
        cmd.CommandText = sql.Length == 0 ? "SELECT 0::bigint, seq FROM commit_position"
            : $"SELECT count(*), (SELECT seq FROM commit_position) FROM ({sql}) q";
        return cmd;
    }

    /// Counts stored events matching any filter (NIP-45); null if <paramref name="accept"/> refused
    /// the commit position the snapshot saw (a replica behind what the caller needs).
    public static async Task<long?> CountAsync(NpgsqlDataSource db, IReadOnlyList<NostrFilter> filters, long now, CancellationToken ct,
        int[]? hiddenKinds = null, Func<long, bool>? accept = null)
    {
        await using var cmd = BuildCount(filters, now, hiddenKinds);
        await using var conn = await db.OpenConnectionAsync(ct);
        cmd.Connection = conn;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return accept is null || accept(reader.GetInt64(1)) ? reader.GetInt64(0) : null;
    }

    /// `relay export`: every stored event matching one filter, newest (or oldest) first, with the
    /// filter's limit if it has one. Meant for a server-side cursor, which the caller reads in pages.
    public static NpgsqlCommand BuildExport(NostrFilter f, bool oldestFirst, long now)
    {
        var cmd = new NpgsqlCommand();
        if (f.MatchesNothing) { cmd.CommandText = "SELECT NULL::bytea WHERE false"; return cmd; }
        var sql = new StringBuilder();
        AppendFilter(sql, cmd, f, limit: null, now, FilterSelect.Raw);
        var order = oldestFirst ? "ASC" : "DESC";
        sql.Append(f.Tags.Length > 0 ? $" ORDER BY t.created_at {order}, t.event_id ASC" : $" ORDER BY e.created_at {order}, e.id ASC");
        if (f.Limit is { } n) sql.Append(" LIMIT ").Append(n);
        cmd.CommandText = sql.ToString();
        return cmd;
    }

    private enum FilterSelect : byte { Raw, IdCreatedAtRaw, IdOnly }

    /// One filter's sub-select. A filter with a tag condition is driven by the tag index in
    /// created_at order (tag rows carry kind and created_at), so a popular `#p` stops after
    /// `limit` rows instead of sorting every match; DISTINCT ON drops an event matched by two
    /// of its tags. Other filters scan events by their own indexes.
    private static void AppendFilter(StringBuilder sql, NpgsqlCommand cmd, NostrFilter f, int? limit, long now, FilterSelect select)
    {
        var byTag = f.Tags.Length > 0;
        if (!byTag && limit is { } splitLimit && f.Authors is { } splitAuthors && f.Kinds is { } splitKinds
            && splitAuthors.Length * splitKinds.Length is >= 2 and <= MaxSplit)
        {
            AppendPerAuthorAndKind(sql, cmd, f, splitAuthors, splitKinds, splitLimit, now, select);
            return;
        }
        if (byTag)
        {
            var (name, values) = f.Tags[0];
            sql.Append(select switch
               {
                   FilterSelect.Raw => "SELECT DISTINCT ON (t.created_at, t.event_id) e.raw",
                   FilterSelect.IdCreatedAtRaw => "SELECT DISTINCT ON (t.created_at, t.event_id) t.event_id AS id, t.created_at, e.raw",
                   _ => "SELECT DISTINCT t.event_id AS id",   // an event may match by two of its tags
               })
               .Append(" FROM tags t JOIN events e ON e.id = t.event_id WHERE t.name = ").Append(Param(cmd, name, NpgsqlDbType.InternalChar))
               .Append(" AND t.value").Append(EqualsAny(cmd, values.Select(TagValueKey.Encode).ToArray(), NpgsqlDbType.Bytea));
            if (f.Kinds is { } k) sql.Append(" AND t.kind").Append(EqualsAny(cmd, k, NpgsqlDbType.Integer));
            if (f.Since is { } s) sql.Append(" AND t.created_at >= ").Append(Param(cmd, s, NpgsqlDbType.Bigint));
            if (f.Until is { } u) sql.Append(" AND t.created_at <= ").Append(Param(cmd, u, NpgsqlDbType.Bigint));
            sql.Append(" AND");
        }
        else
        {
            sql.Append(select switch
               {
                   FilterSelect.Raw => "SELECT e.raw",
                   FilterSelect.IdCreatedAtRaw => "SELECT e.id, e.created_at, e.raw",
                   _ => "SELECT e.id",
               }).Append(" FROM events e WHERE");
            if (f.Kinds is { } k) sql.Append(" e.kind").Append(EqualsAny(cmd, k, NpgsqlDbType.Integer)).Append(" AND");
            if (f.Since is { } s) sql.Append(" e.created_at >= ").Append(Param(cmd, s, NpgsqlDbType.Bigint)).Append(" AND");
            if (f.Until is { } u) sql.Append(" e.created_at <= ").Append(Param(cmd, u, NpgsqlDbType.Bigint)).Append(" AND");
        }
        sql.Append(" (e.expiration IS NULL OR e.expiration > ").Append(Param(cmd, now, NpgsqlDbType.Bigint)).Append(')');
        if (f.Ids is { } ids)
            sql.Append(" AND e.id = ANY(").Append(Param(cmd, ids.Select(Convert.FromHexString).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea)).Append(')');
        if (f.Authors is { } authors)
            sql.Append(" AND e.pubkey").Append(EqualsAny(cmd, authors.Select(Convert.FromHexString).ToArray(), NpgsqlDbType.Bytea));
        foreach (var (name, values) in f.Tags.Skip(byTag ? 1 : 0))
        {
            sql.Append(" AND e.id IN (SELECT t2.event_id FROM tags t2 WHERE t2.name = ").Append(Param(cmd, name, NpgsqlDbType.InternalChar))
               .Append(" AND t2.value = ANY(").Append(Param(cmd, values.Select(TagValueKey.Encode).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bytea)).Append("))");
        }
        if (limit is { } n)
            sql.Append(byTag ? " ORDER BY t.created_at DESC, t.event_id ASC LIMIT " : " ORDER BY e.created_at DESC, e.id ASC LIMIT ").Append(n);
    }

    /// Most (author, kind) pairs a filter is split into; past it one index scan and a sort win.
    private const int MaxSplit = 16;

    /// A profile feed (`authors` × `kinds`, e.g. kinds 1 and 6): one ordered index scan per pair,
    /// each stopping at the limit, merged. Without the split PostgreSQL reads every event of the
    /// author in those kinds and sorts them, which for a prolific author is thousands of rows.
    private static void AppendPerAuthorAndKind(StringBuilder sql, NpgsqlCommand cmd, NostrFilter f, string[] authors, int[] kinds,
        int limit, long now, FilterSelect select)
    {
        sql.Append(select == FilterSelect.Raw ? "SELECT x.raw FROM (" : "SELECT x.id, x.created_at, x.raw FROM (");
        var first = true;
        foreach (var author in authors)
            foreach (var kind in kinds)
            {
                if (!first) sql.Append(" UNION ALL ");
                first = false;
                sql.Append('(');
                var one = new NostrFilter { Ids = f.Ids, Authors = [author], Kinds = [kind], Since = f.Since, Until = f.Until, Limit = limit };
                AppendFilter(sql, cmd, one, limit, now, FilterSelect.IdCreatedAtRaw);
                sql.Append(')');
            }
        sql.Append(") x ORDER BY x.created_at DESC, x.id ASC LIMIT ").Append(limit);
    }

    /// `= $n` for one value, `= ANY($n)` for several: PostgreSQL walks an index in order only
    /// for a plain equality, which lets `LIMIT` stop early on popular authors and tags.
    private static string EqualsAny<T>(NpgsqlCommand cmd, T[] values, NpgsqlDbType elementType) =>
        values.Length == 1
            ? " = " + Param(cmd, values[0], elementType)
            : " = ANY(" + Param(cmd, values, NpgsqlDbType.Array | elementType) + ")";

    private static string Param<T>(NpgsqlCommand cmd, T value, NpgsqlDbType type)
    {
        cmd.Parameters.Add(new NpgsqlParameter<T> { TypedValue = value, NpgsqlDbType = type });
        return "$" + cmd.Parameters.Count;
    }

    /// Runs the query and hands each stored event's raw JSON to <paramref name="onEvent"/>. The
    /// span is a pooled buffer, valid only during the call: copy what you keep. Before any event,
    /// <paramref name="accept"/> hears the commit position the snapshot saw; if it refuses it (a
    /// replica behind what the caller needs), nothing is returned and the result says Stale.
    public static async Task<StoredAnswer> RunAsync(NpgsqlDataSource db, IReadOnlyList<NostrFilter> filters, int maxLimit, long now,
        RawEventHandler onEvent, CancellationToken ct, Func<long, bool>? accept = null)
    {
        await using var cmd = Build(filters, maxLimit, now);
        if (cmd.CommandText.Length == 0) return new(0, 0, Stale: false);
        await using var conn = await db.OpenConnectionAsync(ct);
        cmd.Connection = conn;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var n = 0;
            long position = 0;
            var first = true;
            while (await reader.ReadAsync(ct))
            {
                if (first)
                {
                    first = false;
                    if (reader.GetBytes(0, 0, null, 0, 0) != 8 || reader.GetBytes(0, 0, buffer, 0, 8) != 8)
                        throw new InvalidOperationException("the commit position did not come first");
                    position = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(buffer);
                    if (accept is not null && !accept(position)) return new(0, position, Stale: true);
                    continue;
                }
                // The row is already in Npgsql's buffer (no SequentialAccess): copying it into our
                // pooled array avoids a new byte[] per event.
                var length = (int)reader.GetBytes(0, 0, null, 0, 0);
                if (buffer.Length < length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(length);
                }
                reader.GetBytes(0, 0, buffer, 0, length);
                await onEvent(new ReadOnlyMemory<byte>(buffer, 0, length));
                n++;
            }
            return new(n, position, Stale: false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// Which of these ids are already stored (one index look-up for the whole list), and the commit
    /// position of the snapshot that found them (they were committed at or below it).
    public static async Task<(HashSet<string> Found, long Position)> FindStoredAsync(NpgsqlDataSource db, IEnumerable<string> ids, CancellationToken ct = default)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        await using var cmd = db.CreateCommand(
            "SELECT p.seq, e.id FROM commit_position p LEFT JOIN events e ON e.id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = ids.Select(Convert.FromHexString).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        long position = 0;
        while (await reader.ReadAsync(ct))
        {
            position = reader.GetInt64(0);
            if (!reader.IsDBNull(1)) found.Add(Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(1)));
        }
        return (found, position);
    }
}
