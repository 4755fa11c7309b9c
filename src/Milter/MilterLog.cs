using Microsoft.Extensions.Logging;

namespace Detach.Milter;

/// <summary>Log events of the milter server: session ids, stages and reasons, never message content or addresses.</summary>
internal static partial class MilterLog
{
    [LoggerMessage(1, LogLevel.Debug, "Milter {SessionId} connected from {Remote}")]
    public static partial void SessionStarted(ILogger logger, string sessionId, string? remote);

    [LoggerMessage(2, LogLevel.Debug, "Milter {SessionId} ended ({Reason})")]
    public static partial void SessionEnded(ILogger logger, string sessionId, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Milter {SessionId} closed: {Reason}")]
    public static partial void ProtocolError(ILogger logger, string sessionId, string reason);

    [LoggerMessage(4, LogLevel.Error, "Milter {SessionId} handler failed at {Stage}; the message gets a temporary failure")]
    public static partial void HandlerFailed(ILogger logger, string sessionId, string stage, Exception exception);

    [LoggerMessage(5, LogLevel.Debug, "Milter {SessionId} connection lost")]
    public static partial void ConnectionLost(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(6, LogLevel.Debug, "Milter {SessionId} agreed on protocol {Version}, actions {Actions}, options {Options}, data up to {MaxData} bytes")]
    public static partial void Negotiated(ILogger logger, string sessionId, uint version, MilterActions actions, MilterProtocolOptions options, int maxData);

    [LoggerMessage(7, LogLevel.Warning, "Milter {SessionId}: the MTA sent more than {Max} macros for one stage; the rest are ignored")]
    public static partial void MacrosTruncated(ILogger logger, string sessionId, int max);

    [LoggerMessage(8, LogLevel.Warning, "Milter connection from {Remote} refused: {Count} sessions already")]
    public static partial void ConnectionLimit(ILogger logger, string? remote, int count);

    [LoggerMessage(9, LogLevel.Error, "Milter listener on {EndPoint} failed")]
    public static partial void ListenerFailed(ILogger logger, string endPoint, Exception exception);

    [LoggerMessage(10, LogLevel.Error, "Milter {SessionId} failed")]
    public static partial void SessionFailed(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(11, LogLevel.Information, "Milter server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(12, LogLevel.Debug, "Milter {SessionId} client {Client} [{Address}]")]
    public static partial void Client(ILogger logger, string sessionId, string client, string address);
}
