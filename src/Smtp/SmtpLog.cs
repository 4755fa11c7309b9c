using Microsoft.Extensions.Logging;

namespace Detach.Smtp;

/// <summary>Log events of the server. Session ids and verbs only: never message content nor envelope addresses.</summary>
internal static partial class SmtpLog
{
    [LoggerMessage(1, LogLevel.Debug, "SMTP {SessionId} connected from {Remote}")]
    public static partial void SessionStarted(ILogger logger, string sessionId, string? remote);

    [LoggerMessage(2, LogLevel.Debug, "SMTP {SessionId} ended ({Reason})")]
    public static partial void SessionEnded(ILogger logger, string sessionId, string reason);

    [LoggerMessage(3, LogLevel.Warning, "SMTP {SessionId} backend failed in {Stage}; answered 451 4.3.0")]
    public static partial void BackendFailed(ILogger logger, string sessionId, string stage, Exception exception);

    [LoggerMessage(4, LogLevel.Information, "SMTP {SessionId} closed: {Reason}")]
    public static partial void SessionClosed(ILogger logger, string sessionId, string reason);

    [LoggerMessage(5, LogLevel.Debug, "SMTP {SessionId} connection lost")]
    public static partial void ConnectionLost(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(6, LogLevel.Warning, "SMTP {SessionId} TLS handshake failed")]
    public static partial void TlsFailed(ILogger logger, string sessionId, Exception exception);

    // Accepted messages log at Debug: Postfix logs each one on both sides of the proxy, and detach logs those it
    // changed (with Message-ID and CIDs); at thousands of messages a second the line cost a fifth of the CPU.
    [LoggerMessage(EventId = 7, Message = "SMTP {SessionId} DATA {Reply} ({Size} octets)")]
    private static partial void DataReplied(ILogger logger, LogLevel level, string sessionId, int reply, long size);

    /// <summary>The reply to a message: Debug when accepted, Information when refused.</summary>
    public static void DataDone(ILogger logger, string sessionId, int reply, long size) =>
        DataReplied(logger, reply < 400 ? LogLevel.Debug : LogLevel.Information, sessionId, reply, size);

    [LoggerMessage(8, LogLevel.Warning, "SMTP {SessionId} refused {Command} from unauthorised {Remote}")]
    public static partial void ForwardRefused(ILogger logger, string sessionId, string command, string? remote);

    [LoggerMessage(9, LogLevel.Warning, "SMTP connection from {Remote} refused: {Count} sessions already")]
    public static partial void ConnectionLimit(ILogger logger, string? remote, int count);

    [LoggerMessage(13, LogLevel.Warning, "SMTP connection from {Remote} refused: {Count} sessions from that client already")]
    public static partial void ClientConnectionLimit(ILogger logger, string? remote, int count);

    [LoggerMessage(14, LogLevel.Information, "SMTP {SessionId} {Verb} refused: {Code} {EnhancedCode} {Reason}")]
    public static partial void CommandRefused(ILogger logger, string sessionId, string verb, int code, string? enhancedCode, string reason);

    [LoggerMessage(10, LogLevel.Error, "SMTP listener on {EndPoint} failed")]
    public static partial void ListenerFailed(ILogger logger, string endPoint, Exception exception);

    [LoggerMessage(11, LogLevel.Error, "SMTP {SessionId} failed")]
    public static partial void SessionFailed(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(12, LogLevel.Information, "SMTP server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);
}
