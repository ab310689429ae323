using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Relay.Server.Configuration;
using Relay.Server.Ingest;
using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Storage.Model;

namespace Relay.Server.Cli;

/// `relay import [--no-verify] [FILE|-]`: JSONL events (strfry's and nostr-rs-relay's export
/// format; `["EVENT",{…}]` lines too) through the socket's own path: write policies, dedupe,
/// signature checks, batched COPY writes, replaceable and deletion rules. A bad line is counted
/// and reported with its line number and never stops the import.
internal static class ImportCommand
{
    /// Refusals printed with their line numbers; past this only counted.
    private const int MaxReported = 100;

    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args, Stream stdin, TextWriter errors,
        CancellationToken ct = default)
    {
        if (!CommandOptions.TryLoadFileCommand(env, args, ["--no-verify"], [], "import", errors, out var parts, out var options, out var path)) return 2;

        Stream input;
        try { input = path == "-" ? stdin : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { errors.WriteLine($"relay: cannot read {path}: {e.Message}"); return 2; }

        // An import is the operator's own: no rate limits, no live fan-out to other processes, no
        // seed-relay fetches; every other policy applies as configured.
        options = options with
        {
            RedisUrl = null, EventsPerSecondPerIp = 0, EventsPerSecondPerPubkey = 0, ReqsPerSecondPerIp = 0, ReqsPerSecondPerPubkey = 0,
            WotSeedRelays = [],
        };
        using var loggers = Observability.RelayLogging.Create(options with { LogLevel = (LogLevel)Math.Max((int)options.LogLevel, (int)LogLevel.Warning) });
        // The first Ctrl-C or SIGTERM stops reading and lets what was read be answered; a second
        // one ends the process at once.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void Interrupt(PosixSignalContext c)
        {
            c.Cancel = !stop.IsCancellationRequested;
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);

        RelayHost host;
        try { host = await RelayHost.StartAsync(options, loggers, stop.Token, listen: false); }
        catch (Exception e) when (e is InvalidOperationException or Npgsql.NpgsqlException or ArgumentException or FormatException or OperationCanceledException)
        {
            errors.WriteLine(e is OperationCanceledException ? "relay: import interrupted before it started" : $"relay: cannot start: {e.Message}");
            await input.DisposeAsync();
            return 1;
        }

        var import = new Import(errors, parts.Switches.Contains("--no-verify"), options.VerifyWorkers, stop.Token);
        var code = 0;
        var progress = new Timer(_ => import.Progress(), null, 1000, 1000);
        try
        {
            await import.ReadAsync(input, host.Ingester);
        }
        catch (OperationCanceledException)
        {
            errors.WriteLine("import: interrupted; waiting for the events already read (Ctrl-C again to quit at once)");
            code = 130;
        }
        catch (Exception e)
        {
            // A read error or our bug: what was submitted is still answered and written.
            errors.WriteLine($"import: stopped reading: {e.Message}");
            code = 1;
        }
        finally
        {
            await input.DisposeAsync();
        }
        await import.AllAnsweredAsync();
        await progress.DisposeAsync();
        await host.StopAsync();
        import.Summary();
        return code != 0 ? code : import.Failed > 0 ? 1 : 0;
    }

    /// One import's lines and counts; each read line becomes an <see cref="ImportedLine"/> whose
    /// answer lands here.
    private sealed class Import(TextWriter errors, bool trusted, int workers, CancellationToken aborted)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly ClientMessageParser _messages = new(int.MaxValue, 1);
        // One session per verifier worker, taking the lines in runs of 64: verification and its
        // batched duplicate look-up spread over every core, as many clients' events do.
        private readonly ConnectionSession[] _sessions = Enumerable.Range(0, workers).Select(_ => ConnectionSession.Operator()).ToArray();
        private readonly TaskCompletionSource _allAnswered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _lines, _submitted, _answered, _stored, _duplicate, _ephemeral, _refused, _unreadable, _failed, _reported, _lastLines;
        private long _lastTicks, _position, _length;
        private volatile bool _inputDone;

        public long Failed => Interlocked.Read(ref _failed);
        public bool Trusted => trusted;
        public CancellationToken Aborted => aborted;

        public async Task ReadAsync(Stream input, EventIngester ingester)
        {
            try
            {
                using var reader = new StreamReader(input, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16, leaveOpen: true);
                if (input.CanSeek) Interlocked.Exchange(ref _length, input.Length);
                // WaitAsync: a read from a pipe or terminal does not watch the token itself.
                while (await reader.ReadLineAsync(aborted).AsTask().WaitAsync(aborted) is { } line)
                {
                    var number = Interlocked.Increment(ref _lines);
                    if (input.CanSeek) Interlocked.Exchange(ref _position, input.Position);
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    var e = Parse(Encoding.UTF8.GetBytes(line), out var error);
                    if (e is null)
                    {
                        Interlocked.Increment(ref _unreadable);
                        Report(number, error!);
                        continue;
                    }
                    Interlocked.Increment(ref _submitted);
                    try { await ingester.SubmitAsync(new ImportedLine(this, number, _sessions[number / 64 % _sessions.Length], e.Class == KindClass.Ephemeral), e); }
                    catch
                    {
                        Interlocked.Decrement(ref _submitted);   // not queued: no answer will come for it
                        throw;
                    }
                }
            }
            finally
            {
                _inputDone = true;
                CheckDone();
            }
        }

        /// A line is an event object, or an EVENT message holding one.
        private NostrEvent? Parse(byte[] json, out string? error)
        {
            var first = json.AsSpan().TrimStart(" \t\r"u8);
            if (first.Length > 0 && first[0] == (byte)'[')
            {
                var msg = _messages.Parse(json);
                error = msg is { IsValid: true, Type: ClientMessageType.Event } ? null : msg.Error ?? "invalid: not an EVENT message";
                return error is null ? msg.Event : null;
            }
            var e = EventParser.TryParse(json, out var why);
            error = e is null ? "invalid: " + why : null;
            return e;
        }

        public void Answered(long line, bool accepted, string message, bool ephemeral)
        {
            if (accepted && message.Length > 0) Interlocked.Increment(ref _duplicate);
            else if (accepted) Interlocked.Increment(ref ephemeral ? ref _ephemeral : ref _stored);
            else
            {
                Interlocked.Increment(ref message.StartsWith("error:", StringComparison.Ordinal) ? ref _failed : ref _refused);
                Report(line, message);
            }
            Interlocked.Increment(ref _answered);
            CheckDone();
        }

        private void CheckDone()
        {
            if (_inputDone && Interlocked.Read(ref _answered) == Interlocked.Read(ref _submitted)) _allAnswered.TrySetResult();
        }

        public Task AllAnsweredAsync() => _allAnswered.Task;

        private void Report(long line, string message)
        {
            var n = Interlocked.Increment(ref _reported);
            if (n <= MaxReported) lock (errors) errors.WriteLine($"line {line}: {message}");
            else if (n == MaxReported + 1) lock (errors) errors.WriteLine($"(more refused lines are counted, not shown)");
        }

        /// A line a second: rate, counts and, for a file, the part read and the time left.
        public void Progress()
        {
            var (position, length) = (Interlocked.Read(ref _position), Interlocked.Read(ref _length));
            var now = _clock.ElapsedTicks;
            var lines = Interlocked.Read(ref _lines);
            var rate = (lines - _lastLines) / ((now - _lastTicks) / (double)Stopwatch.Frequency);
            (_lastLines, _lastTicks) = (lines, now);
            var part = "";
            if (length > 0 && position > 0)
            {
                var eta = _clock.Elapsed.TotalSeconds * (length - position) / position;
                part = $", {100.0 * position / length:F0}% read, about {TimeSpan.FromSeconds(Math.Ceiling(eta)):c} left";
            }
            lock (errors) errors.WriteLine($"import: {Counts()}, {rate:N0} lines/s{part}");
        }

        private string Counts() =>
            $"{Interlocked.Read(ref _lines)} lines: {Interlocked.Read(ref _stored)} stored, {Interlocked.Read(ref _duplicate)} duplicate, " +
            $"{Interlocked.Read(ref _refused)} refused, {Interlocked.Read(ref _unreadable)} unreadable, {Interlocked.Read(ref _failed)} failed" +
            (Interlocked.Read(ref _ephemeral) is > 0 and var n ? $", {n} ephemeral (not stored)" : "");

        public void Summary()
        {
            var seconds = _clock.Elapsed.TotalSeconds;
            lock (errors)
            {
                errors.WriteLine($"import: done in {seconds:F1} s: {Counts()} ({Interlocked.Read(ref _lines) / Math.Max(seconds, 0.001):N0} lines/s)");
                if (Failed > 0) errors.WriteLine("import: some events could not be stored (database errors above); run the import again, stored events count as duplicates");
            }
        }
    }

    /// The source of one line's event: its answer is counted, and reported with the line number.
    private sealed class ImportedLine(Import import, long line, ConnectionSession session, bool ephemeral) : IEventSource
    {
        public ConnectionSession Session => session;
        public CancellationToken Aborted => import.Aborted;
        public bool SignaturesTrusted => import.Trusted;
        public void Answer(string eventId, bool accepted, string message) => import.Answered(line, accepted, message, ephemeral);
    }
}
