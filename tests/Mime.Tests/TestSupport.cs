using System.Security.Cryptography;
using System.Text;

namespace Detach.Mime.Tests;

/// <summary>A sink that hashes what it is given, records it, and hands back a fake link.</summary>
internal sealed class RecordingSink : IAttachmentSink
{
    public List<Stored> Items { get; } = [];

    public DateTimeOffset? ExpiresAt { get; set; } = new DateTimeOffset(2026, 12, 24, 10, 0, 0, TimeSpan.Zero);

    public Exception? FailWith { get; set; }

    public int ReadSize { get; set; } = 81920;

    public sealed record Stored(AttachmentDescriptor Descriptor, string Sha256, long Size, byte[]? Content);

    public bool KeepContent { get; set; }

    public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
    {
        if (FailWith is not null)
        {
            throw FailWith;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[ReadSize];
        long size = 0;
        MemoryStream? keep = KeepContent ? new MemoryStream() : null;
        int n;
        while ((n = await decodedContent.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            keep?.Write(buffer, 0, n);
            size += n;
        }
        string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        Items.Add(new Stored(attachment, sha, size, keep?.ToArray()));
        string link = $"https://vault.example.org/d/bafkrei{sha[..40]}#k{Items.Count}{sha[40..]}";
        return new DetachedAttachment(attachment.FileName, attachment.ContentType, size, link, ExpiresAt);
    }
}

/// <summary>Returns 1..7 bytes per read, to shake out state carried across reads.</summary>
internal sealed class TricklingStream(Stream inner, int seed) : Stream
{
    private readonly Random _random = new(seed);

    public override bool CanRead => true;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, _random.Next(1, 8)));
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer[..Math.Min(buffer.Length, _random.Next(1, 8))], cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

internal static class Mail
{
    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Text with "\n" line breaks turned into CRLF.</summary>
    public static byte[] Crlf(string text) => Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal));

    public static async Task<(byte[] Output, PreparedMessage Result, RecordingSink Sink)> RewriteAsync(byte[] input, DetachPolicyOptions? policy = null, Func<Stream, Stream>? wrap = null, RecordingSink? sink = null, MimeRewriterOptions? options = null)
    {
        sink ??= new RecordingSink { KeepContent = true };
        var rewriter = new MimeRewriter(policy ?? new DetachPolicyOptions { MinSizeBytes = 0 }, sink, options);
        using var message = new MemoryStream(input, writable: false);
        using var output = new MemoryStream();
        var result = await rewriter.PrepareAsync(wrap is null ? message : wrap(message), TestContext.Current.CancellationToken);
        await result.WriteToAsync(output, TestContext.Current.CancellationToken);
        return (output.ToArray(), result, sink);
    }

    public static async Task<MimeStructure> ParseAsync(byte[] input, MimeParserOptions? options = null)
    {
        var stream = new MemoryStream(input, writable: false);
        return await MimeStructure.ParseAsync(stream, options, TestContext.Current.CancellationToken);
    }

    public static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var ms = new MemoryStream();
        await stream.CopyToAsync(ms, TestContext.Current.CancellationToken);
        return ms.ToArray();
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>
    /// An oracle's disagreements ("file#part" → what differs) against its list of known, explained ones: fails on a
    /// new disagreement and on a listed one that no longer occurs (for files on this machine), so the list only shrinks.
    /// </summary>
    public static void AssertOnlyKnownDifferences(string oracle, IReadOnlyDictionary<string, string> disagreements, IReadOnlyDictionary<string, string> known,
        IEnumerable<Detach.Tests.Support.CorpusMessage> messages)
    {
        var unexplained = disagreements.Where(d => !known.ContainsKey(d.Key)).Select(d => $"[\"{d.Key}\"] = \"{d.Value}\",").ToList();
        var present = messages.Select(m => m.RelativePath).ToHashSet(StringComparer.Ordinal);
        var stale = known.Keys.Where(k => present.Contains(k[..k.IndexOf('#', StringComparison.Ordinal)]) && !disagreements.ContainsKey(k)).ToList();
        Assert.True(unexplained.Count == 0, $"Unexplained disagreements with {oracle}:\n" + string.Join("\n", unexplained));
        Assert.True(stale.Count == 0, $"Known differences with {oracle} that no longer occur (remove them):\n" + string.Join("\n", stale));
    }

    /// <summary>Past a parser limit (Policy:WhenLimitExceeded=Deliver) the message comes out as it came, under one X-Detach line saying why.</summary>
    public static void AssertPassedThroughPastLimit(byte[] input, byte[] output, string limit)
    {
        int lf = Array.IndexOf(output, (byte)'\n');
        Assert.True(lf > 0, "no trace line");
        Assert.Equal($"X-Detach: parser limit exceeded ({limit})", Encoding.ASCII.GetString(output, 0, lf).TrimEnd('\r'));
        Assert.True(output.AsSpan(lf + 1).SequenceEqual(input), "the message after the trace line is not the input");
    }
}
