using System.Runtime.ExceptionServices;

namespace Detach.Gateway.Processing;

/// <summary>
/// The decoded content as the vault reads it, with every chunk handed to the inspections on the way and their
/// verdicts asked for at the end of the content (the read that returns 0), before the vault can finish storing.
/// </summary>
internal sealed class InspectedStream(Stream content, IReadOnlyList<IAttachmentInspection> inspections) : ReadOnlyStream
{
    private bool _completed;
    private readonly List<string> _warnings = [];

    /// <summary>The warnings the inspections returned at the end of the content.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Bytes the vault has read so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>What an inspection threw: the vault's store may wrap it (an HTTP upload does), the caller rethrows it as it was.</summary>
    public ExceptionDispatchInfo? Failure { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read == 0 && buffer.Length > 0)
        {
            await CompleteAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }

        BytesRead += read;
        try
        {
            foreach (var inspection in inspections)
            {
                await inspection.WriteAsync(buffer[..read], cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            Failure ??= ExceptionDispatchInfo.Capture(e);
            throw;
        }

        return read;
    }

    /// <summary>Asks every inspection for its verdict, once; also after a vault that stopped reading before the end.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        try
        {
            foreach (var inspection in inspections)
            {
                if (await inspection.CompleteAsync(cancellationToken).ConfigureAwait(false) is { } warning)
                {
                    _warnings.Add(warning);
                }
            }
        }
        catch (Exception e)
        {
            Failure ??= ExceptionDispatchInfo.Capture(e);
            throw;
        }
    }

    // The vault reads asynchronously; a synchronous reader still gets the same bytes and verdicts.
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
}
