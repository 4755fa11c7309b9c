namespace Detach.Vault.Storage;

/// <summary>The node answered with an error (<see cref="Message"/> and <see cref="Code"/> are the API's).</summary>
public class KuboException : Exception
{
    public KuboException() : base("The IPFS node returned an error.") { }

    public KuboException(string message) : base(message) { }

    public KuboException(string message, Exception? innerException) : base(message, innerException) { }

    public KuboException(string message, int code, int? statusCode, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        StatusCode = statusCode;
    }

    /// <summary>The API's error code (0 normal, 1 client, 2 implementation, 3 rate limited, 4 forbidden).</summary>
    public int Code { get; }

    /// <summary>The HTTP status, or null when the error came in the <c>X-Stream-Error</c> trailer.</summary>
    public int? StatusCode { get; }
}

/// <summary>The node has no such block, link or pin (or could not find the block within the timeout).</summary>
public class KuboNotFoundException : KuboException
{
    public KuboNotFoundException() : base("Not found on the IPFS node.") { }

    public KuboNotFoundException(string message) : base(message) { }

    public KuboNotFoundException(string message, Exception? innerException) : base(message, innerException) { }

    public KuboNotFoundException(string message, int code, int? statusCode)
        : base(message, code, statusCode) { }
}

/// <summary>The node could not be reached or did not answer in time: connection refused or reset, 5xx from a proxy, client-side deadline.</summary>
public class KuboUnavailableException : KuboException
{
    public KuboUnavailableException() : base("The IPFS node is unavailable.") { }

    public KuboUnavailableException(string message) : base(message) { }

    public KuboUnavailableException(string message, Exception? innerException) : base(message, innerException) { }

    public KuboUnavailableException(string message, int? statusCode, Exception? innerException = null)
        : base(message, 0, statusCode, innerException) { }
}
