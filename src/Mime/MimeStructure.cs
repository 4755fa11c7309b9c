namespace Detach.Mime;

/// <summary>
/// Read-only tree of a spooled message with access to raw and decoded bodies, each a view that reads the spool where
/// the bytes lie (<see cref="IPositionalRead"/>): views do not share a position, so several may be open and read.
/// </summary>
public sealed class MimeStructure
{
    private readonly Stream _spool;
    private readonly IPositionalRead _reads;
    private readonly long _origin;

    private MimeStructure(Stream spool, long origin, MimeEntity root, string? limitExceeded)
    {
        _spool = spool;
        _reads = PositionalRead.Over(spool);
        _origin = origin;
        Root = root;
        LimitExceeded = limitExceeded;
    }

    public MimeEntity Root { get; }

    /// <summary>The first parser limit the message ran into (<see cref="MimeStreamReader.LimitExceeded"/>), or null.</summary>
    public string? LimitExceeded { get; }

    /// <summary>Parses a seekable stream from its current position.</summary>
    public static async Task<MimeStructure> ParseAsync(Stream message, MimeParserOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!message.CanSeek)
        {
            throw new ArgumentException("The message must be a seekable stream (a spool file).", nameof(message));
        }

        long origin = message.Position;
        var reader = new MimeStreamReader(message, options);
        var root = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new MimeStructure(message, origin, root, reader.LimitExceeded);
    }

    /// <summary>The body's bytes as they are in the message.</summary>
    public Stream OpenRawBody(MimeEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        return new SpoolRange(_reads, _origin + entity.BodyStart, entity.BodyLength);
    }

    /// <summary>The body decoded from its transfer encoding (unknown encodings come out raw).</summary>
    public Stream OpenBody(MimeEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        return TransferDecoder.Open(_reads, _origin + entity.BodyStart, entity.BodyLength, entity.TransferEncoding);
    }

    /// <summary>Any byte range of the message, raw.</summary>
    public Stream OpenRange(long start, long end) => new SpoolRange(_reads, _origin + start, end - start);

    /// <summary>Any byte range of the message, decoded from a transfer encoding.</summary>
    internal Stream OpenDecoded(long start, long length, TransferEncoding encoding) => TransferDecoder.Open(_reads, _origin + start, length, encoding);

    /// <summary>Bytes from where parsing started to the end of the spool.</summary>
    internal long Length => _spool.Length - _origin;
}
