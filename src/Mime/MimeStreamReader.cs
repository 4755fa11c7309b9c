using System.Buffers;
using System.Text;

namespace Detach.Mime;

/// <summary>
/// Reads a message once, front to back, into a tree of <see cref="MimeEntity"/> with byte offsets.
/// Bodies are scanned, never kept: memory is one read buffer plus the (capped) header fields.
/// Iterative, not recursive: the open entities live on an explicit stack, so nesting cannot overflow the call stack.
/// Boundary rules follow MimeKit's parser: the innermost matching delimiter wins, a parent's delimiter closes
/// unterminated children, the line ending before a delimiter belongs to it, and a line of 1000+ bytes is never
/// a delimiter (unless a declared boundary is itself that long).
/// </summary>
public sealed class MimeStreamReader
{
    private const int BufferSize = 64 * 1024;
    private static readonly byte[] Bom = [0xEF, 0xBB, 0xBF];

    private readonly Stream _stream;
    private readonly MimeParserOptions _options;
    private byte[] _buffer = [];
    private int _pos;
    private int _len;
    private long _bufferOffset;
    private bool _eof;
    private long _headerBudget;
    private int _parts;

    // Open entities, root first; multiparts whose close delimiter has not been seen are also in _active.
    private readonly List<MimeEntity> _open = [];
    private readonly List<MimeEntity> _active = [];
    private readonly List<byte[]> _activeBoundaries = [];
    private int _longestBoundary;

    public MimeStreamReader(Stream stream, MimeParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
        _options = options ?? MimeParserOptions.Default;
    }

    private long Position => _bufferOffset + _pos;

    /// <summary>
    /// The first parser limit the message ran into ("nesting deeper than 100 levels"...), or null. Past a limit
    /// the reader stops looking: the part (or the rest of the message) stays in the tree as an opaque leaf.
    /// </summary>
    public string? LimitExceeded { get; private set; }

    private void Exceeded(string limit) => LimitExceeded ??= limit;

    /// <summary>Raised once an entity's header block is read and interpreted (push-style use of the reader).</summary>
    public event Action<MimeEntity>? HeadersRead;

    /// <summary>Raised when an entity's extent is known (<see cref="MimeEntity.End"/> is set).</summary>
    public event Action<MimeEntity>? EntityEnded;

    /// <summary>Raised for each delimiter line: the multipart, the line's offset, and whether it is the close delimiter.</summary>
    public event Action<MimeEntity, long, bool>? DelimiterRead;

    /// <summary>Parses from the stream's current position to its end. Offsets are relative to that position.</summary>
    public async Task<MimeEntity> ReadAsync(CancellationToken cancellationToken)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            _headerBudget = _options.MaxTotalHeaderBytes;
            var root = new MimeEntity(null, "", 0, 0);
            await SkipPrefixAsync(root, cancellationToken).ConfigureAwait(false);
            _open.Add(root);
            await ParseEntityAsync(root, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                var hit = await ScanToBoundaryAsync(cancellationToken).ConfigureAwait(false);
                if (hit is null)
                {
                    for (int i = _open.Count - 1; i >= 0; i--)
                    {
                        _open[i].End = Math.Max(Position, _open[i].HeaderStart);
                        EntityEnded?.Invoke(_open[i]);
                    }
                    _open.Clear();
                    return root;
                }
                var (endPos, activeIndex, isClose, lineStart) = hit.Value;
                var multipart = _active[activeIndex];
                while (_open[^1] != multipart)
                {
                    var closed = _open[^1];
                    _open.RemoveAt(_open.Count - 1);
                    closed.End = Math.Max(endPos, closed.HeaderStart);
                    EntityEnded?.Invoke(closed);
                    int a = _active.IndexOf(closed);
                    if (a >= 0)
                    {
                        RemoveActive(a);
                    }
                }
                DelimiterRead?.Invoke(multipart, lineStart, isClose);
                if (isClose)
                {
                    multipart.IsClosed = true;
                    RemoveActive(activeIndex);
                    continue; // the epilogue runs on to an outer delimiter or the end
                }
                if (_parts >= _options.MaxParts)
                {
                    Exceeded($"more than {_options.MaxParts} parts");
                    // Too many parts to track: stop reading structure. Everything still open becomes opaque, so the
                    // rest of the message passes through untouched and the tree stays bounded.
                    foreach (var e in _open)
                    {
                        e.IsOpaque = true;
                    }

                    while (_active.Count > 0)
                    {
                        RemoveActive(_active.Count - 1);
                    }

                    continue;
                }
                string path = multipart.Path.Length == 0 ? (multipart.Children.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)
                    : multipart.Path + "." + (multipart.Children.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                var child = new MimeEntity(multipart, path, multipart.Depth + 1, Position) { LineEnding = multipart.LineEnding };
                multipart.AddChild(child);
                _open.Add(child);
                await ParseEntityAsync(child, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private void RemoveActive(int index)
    {
        _active.RemoveAt(index);
        _activeBoundaries.RemoveAt(index);
        _longestBoundary = 0;
        foreach (var b in _activeBoundaries)
        {
            _longestBoundary = Math.Max(_longestBoundary, b.Length);
        }
    }

    /// <summary>Reads headers of <paramref name="entity"/> and, for encapsulated messages, of each nested message in turn.</summary>
    private async Task ParseEntityAsync(MimeEntity entity, CancellationToken cancellationToken)
    {
        while (true)
        {
            _parts++;
            await ParseHeadersAsync(entity, cancellationToken).ConfigureAwait(false);
            bool parentIsDigest = entity.Parent is { IsMultipart: true } p && p.MimeType == "multipart/digest";
            entity.Interpret(parentIsDigest);
            if (entity.Parent is { } wrapper && wrapper.Message == entity && !entity.MimeType.StartsWith("multipart/", StringComparison.Ordinal))
            {
                entity.Path = (wrapper.Path.Length == 0 ? "1" : wrapper.Path) + ".1";
            }
            HeadersRead?.Invoke(entity);
            if (entity.IsOpaque)
            {
                return;
            }

            string type = entity.MimeType;
            bool multipart = type.StartsWith("multipart/", StringComparison.Ordinal);
            bool message = type is "message/rfc822" or "message/global" or "message/news"
                && entity.TransferEncoding is TransferEncoding.None or TransferEncoding.SevenBit or TransferEncoding.EightBit or TransferEncoding.Binary;
            bool canNest = CanNest(entity, multipart || message);
            if (multipart)
            {
                string? boundary = entity.ContentType.Parameters["boundary"];
                if (canNest && boundary?.Length > _options.MaxBoundaryLength)
                {
                    Exceeded($"a boundary over {Size(_options.MaxBoundaryLength)}");
                }

                if (canNest && !string.IsNullOrEmpty(boundary) && boundary.Length <= _options.MaxBoundaryLength)
                {
                    // Boundaries are compared as bytes; trailing spaces are not part of a boundary (RFC 2046 bchars).
                    var bytes = Encoding.UTF8.GetBytes(boundary.TrimEnd(' ', '\t'));
                    if (bytes.Length > 0)
                    {
                        entity.Boundary = boundary;
                        _active.Add(entity);
                        _activeBoundaries.Add(bytes);
                        _longestBoundary = Math.Max(_longestBoundary, bytes.Length);
                    }
                }
                return;
            }
            if (canNest && message)
            {
                var inner = new MimeEntity(entity, entity.Path, entity.Depth + 1, Position) { LineEnding = entity.LineEnding };
                entity.Message = inner;
                _open.Add(inner);
                entity = inner;
                continue;
            }
            return;
        }
    }

    /// <summary>Whether a container may open another level; a container that may not is a limit exceeded.</summary>
    private bool CanNest(MimeEntity entity, bool container)
    {
        if (entity.Depth >= _options.MaxDepth)
        {
            if (container)
            {
                Exceeded($"nesting deeper than {_options.MaxDepth} levels");
            }

            return false;
        }
        if (_parts >= _options.MaxParts)
        {
            if (container)
            {
                Exceeded($"more than {_options.MaxParts} parts");
            }

            return false;
        }
        return true;
    }

    /// <summary>"64 KiB", "8 MiB", "1000 bytes".</summary>
    private static string Size(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : bytes % 1024 == 0 ? $"{bytes / 1024} KiB" : $"{bytes} bytes";

    private async Task SkipPrefixAsync(MimeEntity root, CancellationToken cancellationToken)
    {
        await EnsureAsync(5, cancellationToken).ConfigureAwait(false);
        var span = _buffer.AsSpan(_pos, _len - _pos);
        if (span.StartsWith(Bom))
        {
            _pos += Bom.Length;
        }

        await EnsureAsync(5, cancellationToken).ConfigureAwait(false);
        if (_buffer.AsSpan(_pos, _len - _pos).StartsWith("From "u8))
        {
            var line = await PeekLineAsync(cancellationToken).ConfigureAwait(false);
            _pos += line.Length;
        }
        root.PrefixLength = Position;
        root.HeaderStart = Position;
    }

    private async Task ParseHeadersAsync(MimeEntity entity, CancellationToken cancellationToken)
    {
        entity.HeaderStart = Position;
        bool firstLine = true;
        bool opaque = false;
        bool midLine = false;
        long blockBytes = 0;
        string? fieldName = null;
        long fieldOffset = 0;
        var field = new ArrayBufferWriter<byte>(256);

        while (true)
        {
            var line = await PeekLineAsync(cancellationToken).ConfigureAwait(false);
            if (line.Length == 0)
            {
                entity.HeadersUnterminated = true;
                break; // end of input inside the headers
            }
            var span = _buffer.AsSpan(line.Start, line.Length);
            if (midLine)
            {
                // The rest of a line longer than the buffer: it belongs to the field it started.
                blockBytes += line.Length;
                if (!opaque && fieldName is not null)
                {
                    if (HeaderLimit(field.WrittenCount + line.Length, blockBytes) is { } limit) { Exceeded(limit); opaque = true; field.Clear(); }
                    else
                    {
                        field.Write(span);
                    }
                }
                midLine = !line.Complete;
                _pos += line.Length;
                continue;
            }
            if (firstLine && line.Complete)
            {
                entity.LineEnding = span.EndsWith("\r\n"u8) ? "\r\n" : "\n";
            }
            if (line.Complete && (span.SequenceEqual("\n"u8) || span.SequenceEqual("\r\n"u8)))
            {
                _pos += line.Length;
                break;
            }
            if (_active.Count > 0 && (line.Complete || _eof) && IsDelimiterLine(span, out _, out _))
            {
                entity.HeadersUnterminated = true;
                break; // headers cut short by a delimiter: the part has no body
            }
            bool continuation = span[0] is (byte)' ' or (byte)'\t';
            bool fromLine = span.StartsWith("From "u8) || span.StartsWith(">From "u8);
            int nameLength = continuation || fromLine ? -1 : FieldNameLength(span);
            if (!continuation && !fromLine && nameLength < 0)
            {
                entity.HeadersUnterminated = true;
                break; // not a header line: the body starts here, as Python's feedparser reads it
            }
            firstLine = false;
            blockBytes += line.Length;
            if (!continuation && fieldName is not null)
            {
                FinishField();
            }
            if (!continuation)
            {
                fieldName = fromLine ? null : Encoding.Latin1.GetString(span[..nameLength]).TrimEnd(' ', '\t');
                fieldOffset = _bufferOffset + line.Start;
            }
            if (!opaque && fieldName is not null)
            {
                if (HeaderLimit(field.WrittenCount + line.Length, blockBytes) is { } limit)
                {
                    Exceeded(limit);
                    opaque = true;
                    field.Clear();
                }
                else
                {
                    field.Write(span);
                }
            }
            midLine = !line.Complete;
            _pos += line.Length;
        }
        if (fieldName is not null)
        {
            FinishField();
        }

        entity.IsOpaque = opaque;
        entity.BodyStart = Position;
        _headerBudget -= blockBytes;

        void FinishField()
        {
            if (!opaque && field.WrittenCount > 0)
            {
                entity.AddHeader(new HeaderField(fieldName!, field.WrittenSpan.ToArray(), fieldOffset));
            }
            field.Clear();
            fieldName = null;
        }
    }

    /// <summary>Which header limit a field of <paramref name="fieldBytes"/> in a block of <paramref name="blockBytes"/> exceeds, or null.</summary>
    private string? HeaderLimit(long fieldBytes, long blockBytes) =>
        fieldBytes > _options.MaxHeaderFieldBytes ? $"a header field over {Size(_options.MaxHeaderFieldBytes)}"
        : blockBytes > _options.MaxHeaderBlockBytes ? $"a header block over {Size(_options.MaxHeaderBlockBytes)}"
        : blockBytes > _headerBudget ? $"more than {Size(_options.MaxTotalHeaderBytes)} of header fields"
        : null;

    /// <summary>Length of the field name before optional blanks and the colon, or -1 when this is no header line.</summary>
    private static int FieldNameLength(ReadOnlySpan<byte> line)
    {
        int colon = line.IndexOf((byte)':');
        if (colon < 0)
        {
            return -1;
        }

        int end = colon;
        while (end > 0 && line[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }

        for (int i = 0; i < end; i++)
        {
            byte b = line[i];
            if (b is < 0x21 or > 0x7E)
            {
                return -1;
            }
        }
        return colon;
    }

    /// <summary>
    /// Advances to the next line that is a delimiter of an active multipart. Returns where the content before it
    /// ends (the line ending before the delimiter excluded), which multipart it belongs to and whether it closes it;
    /// null at end of input. The delimiter line is consumed.
    /// </summary>
    private async Task<(long EndPos, int ActiveIndex, bool IsClose, long LineStart)?> ScanToBoundaryAsync(CancellationToken cancellationToken)
    {
        long scopeStart = Position;
        bool checkAtPos = true; // the scan starts at a line start
        while (true)
        {
            if (_active.Count == 0)
            {
                // Nothing can end the current content but the end of input.
                while (!_eof || _pos < _len)
                {
                    _pos = _len;
                    if (!await FillAsync(cancellationToken).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                return null;
            }
            int candidate = -1;
            if (checkAtPos)
            {
                if (_len - _pos < 2 && !_eof)
                {
                    await FillAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
                if (_len - _pos >= 2 && _buffer[_pos] == '-' && _buffer[_pos + 1] == '-')
                {
                    candidate = _pos;
                }
            }
            if (candidate < 0)
            {
                int idx = _buffer.AsSpan(_pos, _len - _pos).IndexOf("\n--"u8);
                if (idx < 0)
                {
                    if (_eof)
                    {
                        _pos = _len;
                        return null;
                    }
                    // Keep the last two bytes: "\n-" may continue in the next read.
                    _pos = Math.Max(_pos, _len - 2);
                    checkAtPos = false;
                    if (!await FillAsync(cancellationToken).ConfigureAwait(false) && _eof)
                    {
                        _pos = _len;
                        return null;
                    }
                    continue;
                }
                candidate = _pos + idx + 1;
            }
            checkAtPos = false;

            int limit = Math.Max(998, _longestBoundary + 4 + 256);
            int lf = _buffer.AsSpan(candidate, Math.Min(_len - candidate, limit + 2)).IndexOf((byte)'\n');
            if (lf < 0 && !_eof && _len - candidate < limit + 2)
            {
                // The candidate line is not complete in the buffer: refill and look again, keeping the "\n"
                // before it (or, for a candidate at the scan position, the position itself).
                bool atPos = candidate == _pos;
                _pos = atPos ? candidate : candidate - 1;
                checkAtPos = atPos;
                await FillAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            int lineLength = lf < 0 ? Math.Min(_len - candidate, limit + 2) : lf + 1;
            var line = _buffer.AsSpan(candidate, lineLength);
            bool tooLong = lf < 0 && !_eof;
            if (!tooLong && IsDelimiterLine(line, out int activeIndex, out bool isClose))
            {
                long lineStart = _bufferOffset + candidate;
                long endPos = lineStart;
                if (lineStart > scopeStart && candidate >= 1 && _buffer[candidate - 1] == '\n')
                {
                    endPos--;
                    if (endPos > scopeStart && candidate >= 2 && _buffer[candidate - 2] == '\r')
                    {
                        endPos--;
                    }
                }
                _pos = candidate + lineLength;
                return (endPos, activeIndex, isClose, lineStart);
            }
            _pos = candidate + 1;
        }
    }

    /// <summary>Whether a whole line (line ending included) is "--boundary" or "--boundary--" of an active multipart.</summary>
    private bool IsDelimiterLine(ReadOnlySpan<byte> line, out int activeIndex, out bool isClose)
    {
        activeIndex = -1;
        isClose = false;
        if (line.Length < 3 || line[0] != '-' || line[1] != '-')
        {
            return false;
        }

        var content = line[2..];
        // Trailing blanks and the line ending are not part of the delimiter.
        int end = content.Length;
        while (end > 0 && content[end - 1] is (byte)'\r' or (byte)'\n' or (byte)' ' or (byte)'\t')
        {
            end--;
        }

        content = content[..end];
        if (content.Length + 2 >= 1000 && content.Length > _longestBoundary + 2)
        {
            return false;
        }

        for (int i = _activeBoundaries.Count - 1; i >= 0; i--)
        {
            var b = _activeBoundaries[i];
            if (!content.StartsWith(b))
            {
                continue;
            }

            var rest = content[b.Length..];
            if (rest.Length == 0)
            {
                activeIndex = i;
                return true;
            }
            if (rest.Length == 2 && rest[0] == '-' && rest[1] == '-')
            {
                activeIndex = i;
                isClose = true;
                return true;
            }
        }
        return false;
    }

    private readonly record struct Line(int Start, int Length, bool Complete);

    /// <summary>The next line (or a buffer-sized piece of a very long one) without consuming it.</summary>
    private async ValueTask<Line> PeekLineAsync(CancellationToken cancellationToken)
    {
        int searchFrom = 0;
        while (true)
        {
            int available = _len - _pos;
            int idx = _buffer.AsSpan(_pos + searchFrom, available - searchFrom).IndexOf((byte)'\n');
            if (idx >= 0)
            {
                return new Line(_pos, searchFrom + idx + 1, true);
            }

            searchFrom = available;
            if (_eof)
            {
                return new Line(_pos, available, false);
            }

            if (available >= _buffer.Length - 2)
            {
                return new Line(_pos, available, false);
            }
            // Compaction keeps the bytes from _pos on, so what was searched stays searched.
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask EnsureAsync(int count, CancellationToken cancellationToken)
    {
        while (_len - _pos < count && !_eof)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads more input, first moving unread bytes (and two bytes of history) to the front.</summary>
    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_eof)
        {
            return false;
        }

        int keep = Math.Min(_pos, 2);
        int shift = _pos - keep;
        if (shift > 0)
        {
            Buffer.BlockCopy(_buffer, shift, _buffer, 0, _len - shift);
            _len -= shift;
            _pos -= shift;
            _bufferOffset += shift;
        }
        if (_len == _buffer.Length)
        {
            return false;
        }

        int n = await _stream.ReadAsync(_buffer.AsMemory(_len, _buffer.Length - _len), cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            _eof = true;
            return false;
        }
        _len += n;
        return true;
    }
}
