using System.Runtime.CompilerServices;

namespace Detach.Gateway.Processing;

/// <summary>
/// <c>await ThreadPoolHop.Now</c> continues on a thread-pool thread: at once when already on one, else through the
/// pool's queue. The SMTP front's sockets complete inline (<see cref="Smtp.SmtpServerOptions.InlineCompletions"/>), so
/// its session code runs on the runtime's socket event thread, which serves every connection; work that blocks or
/// computes for long (storing attachments, fsync, index writes, parsing a message spilled to disk) moves off it first.
/// </summary>
public readonly struct ThreadPoolHop : ICriticalNotifyCompletion
{
    public static ThreadPoolHop Now => default;

    public ThreadPoolHop GetAwaiter() => this;

    public bool IsCompleted => Thread.CurrentThread.IsThreadPoolThread;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) =>
        ThreadPool.QueueUserWorkItem(static run => run(), continuation, preferLocal: false);

    public void UnsafeOnCompleted(Action continuation) =>
        ThreadPool.UnsafeQueueUserWorkItem(static run => run(), continuation, preferLocal: false);
}
