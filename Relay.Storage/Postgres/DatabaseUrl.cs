using Npgsql;

namespace Relay.Storage.Postgres;

/// Turns `postgres://user:pass@host:port/db?sslmode=require` (what DATABASE_URL usually holds)
/// into an Npgsql connection string. Key=value strings pass through unchanged.
public static class DatabaseUrl
{
    public static NpgsqlConnectionStringBuilder Parse(string value)
    {
        if (!value.StartsWith("postgres://", StringComparison.Ordinal) && !value.StartsWith("postgresql://", StringComparison.Ordinal))
            return new NpgsqlConnectionStringBuilder(value);

        var uri = new Uri(value);
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
        };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            b.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2) b.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var val = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            if (key.Equals("sslmode", StringComparison.OrdinalIgnoreCase)) b.SslMode = Enum.Parse<SslMode>(val, ignoreCase: true);
            else b[key] = val;
        }
        return b;
    }

    public static string Describe(NpgsqlConnectionStringBuilder b) => $"{b.Username}@{b.Host}:{b.Port}/{b.Database}";
}
