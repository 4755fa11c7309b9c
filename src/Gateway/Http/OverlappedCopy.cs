using System.IO.Pipelines;
using System.Runtime.ExceptionServices;

namespace Detach.Gateway.Http;

/// <summary>
/// Runs a producer (decryption) and the sending of what it already produced at the same time, through a
/// small bounded pipe. Serially, one client's download costs decrypt time plus send time per record;
/// overlapped, the two run on both cores. A producer failure (a record failing its MAC) stops the
/// sending and is rethrown as is; the producer never writes a record it has not authenticated.
/// </summary>
public static class OverlappedCopy
{
    /// <summary>Bytes the producer may run ahead of the network: four records.</summary>
    public const int AheadBytes = 256 * 1024;

    public static async Task RunAsync(Func<Stream, CancellationToken, Task> produce, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(produce);
        ArgumentNullException.ThrowIfNull(destination);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pipe = new Pipe(new PipeOptions(
            pauseWriterThreshold: AheadBytes, resumeWriterThreshold: AheadBytes / 2, minimumSegmentSize: 64 * 1024, useSynchronizationContext: false));
        var sending = SendAsync(pipe.Reader, destination, stop);

        Exception? failure = null;
        var input = pipe.Writer.AsStream(leaveOpen: true);
        await using (input.ConfigureAwait(false))
        {
            try
            {
                await produce(input, stop.Token).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // every failure is handed on: rethrown below, after the sender stopped
            catch (Exception exception)
#pragma warning restore CA1031
            {
                failure = exception;
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }

        await pipe.Writer.CompleteAsync(failure).ConfigureAwait(false);
        try
        {
            await sending.ConfigureAwait(false);
        }
        catch (Exception) when (failure is not null and not OperationCanceledException)
        {
            // The producer's failure is what happened; the sender only stopped because of it.
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private static async Task SendAsync(PipeReader reader, Stream destination, CancellationTokenSource stop)
    {
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(stop.Token).ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await destination.WriteAsync(segment, stop.Token).ConfigureAwait(false);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await reader.CompleteAsync(exception).ConfigureAwait(false);
            throw;
        }
    }
}
