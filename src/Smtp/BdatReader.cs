using System.Buffers;
using System.IO.Pipelines;

namespace Detach.Smtp;

/// <summary>One BDAT command's chunk (RFC 3030): its octet count and whether it ends the message.</summary>
public readonly record struct BdatChunk(long Size, bool Last)
{
    /// <summary>Parses the arguments of "BDAT size [LAST]"; false for anything else.</summary>
    public static bool TryParse(string args, out BdatChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(args);
        chunk = default;
        string[] parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || parts[0].Length > 18 || !long.TryParse(parts[0], System.Globalization.NumberStyles.None, null, out long size))
        {
            return false;
        }

        bool last = parts.Length == 2;
        if (last && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        chunk = new BdatChunk(size, last);
        return true;
    }
}

/// <summary>
/// The message sent in BDAT chunks, as one stream: exactly each chunk's octets, no dot-stuffing, no line rules. When
/// a chunk is used up, <c>nextChunk</c> (the session) answers it and reads the next command: another BDAT goes on,
/// anything else ends the stream with <see cref="Abandoned"/> set, and the session runs that command after the
/// transaction. Only the size limit applies (552 5.3.4).
/// </summary>
internal sealed class BdatReader : SmtpMessageReader
{
    private readonly Func<long, CancellationToken, ValueTask<BdatChunk?>> _nextChunk;
    private long _chunkSize;
    private long _remaining;
    private bool _last;
    private bool _discard;

    /// <param name="first">The chunk the first BDAT command announced.</param>
    /// <param name="nextChunk">
    /// Called with a finished non-last chunk's size: answers it, reads the next command and returns its chunk, or
    /// null when that command is not BDAT; throws when the session ends instead.
    /// </param>
    /// <param name="deadline">How long to wait for the client's bytes; the caller charges the waits for BDAT commands to it too.</param>
    public BdatReader(PipeReader input, BdatChunk first, long maxMessageSize, DataDeadline deadline, CancellationToken sessionToken,
        Func<long, CancellationToken, ValueTask<BdatChunk?>> nextChunk)
        : base(input, maxMessageSize, deadline, sessionToken)
    {
        ArgumentNullException.ThrowIfNull(nextChunk);
        _nextChunk = nextChunk;
        Start(first);
    }

    /// <summary>The client sent a command other than BDAT before the last chunk: there is no message.</summary>
    public bool Abandoned { get; private set; }

    public override bool IsCompleted => _last && _remaining == 0;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        if (buffer.IsEmpty || !await NextBytesAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        int n = (int)await TakeAsync(buffer, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed();
        return n;
    }

    /// <summary>Reads and throws away the rest of the message up to the end of the last chunk.</summary>
    public override async Task DrainAsync(CancellationToken cancellationToken)
    {
        ThrowIfBroken();
        _discard = true;
        while (await NextBytesAsync(cancellationToken).ConfigureAwait(false))
        {
            await TakeAsync(null, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Consumes what is buffered of the current chunk, copied into <paramref name="destination"/> or, if null, dropped.</summary>
    private async ValueTask<long> TakeAsync(Memory<byte>? destination, CancellationToken cancellationToken)
    {
        ReadResult result = await ReadInputAsync(cancellationToken).ConfigureAwait(false);
        ReadOnlySequence<byte> available = result.Buffer;
        if (available.IsEmpty)
        {
            throw ClosedEarly();
        }

        long n = Math.Min(available.Length, _remaining);
        if (destination is { } target)
        {
            n = Math.Min(n, target.Length);
            available.Slice(0, n).CopyTo(target.Span);
        }

        Input.AdvanceTo(available.GetPosition(n));
        _remaining -= n;
        CountMessageBytes(n);
        return n;
    }

    /// <summary>True while message octets remain, moving on to the next chunk when this one is used up.</summary>
    private async ValueTask<bool> NextBytesAsync(CancellationToken cancellationToken)
    {
        while (_remaining == 0)
        {
            if (_last || Abandoned)
            {
                return false;
            }

            BdatChunk? next;
            try
            {
                next = await _nextChunk(_chunkSize, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
                throw Fail(new IOException("The session ended during BDAT.", e));
            }

            if (next is null)
            {
                Abandoned = true;
                if (!_discard)
                {
                    throw new IOException("The client abandoned the message before its last BDAT chunk.");
                }

                return false;
            }

            Start(next.Value);
        }

        return true;
    }

    private void Start(BdatChunk chunk)
    {
        _chunkSize = chunk.Size;
        _remaining = chunk.Size;
        _last = chunk.Last;
    }
}
