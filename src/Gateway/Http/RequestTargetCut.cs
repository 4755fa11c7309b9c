namespace Detach.Gateway.Http;

/// <summary>
/// Where a request target stops being a gateway address. Every path the gateway serves (CIDs, /d/, /assets/,
/// /healthz...) is made of letters, digits and <c>/ . _ ~ -</c>, and none takes a query. Anything from the first
/// other character on ('#', '?', '%' of an escape such as %23 or %2523, ';'...) is what a link rewriter or a
/// hand-made request added, typically the link key: it is cut before anything in the process sees the request.
/// </summary>
public static class RequestTargetCut
{
    /// <summary>The length of <paramref name="target"/>'s leading part that is a plain gateway path.</summary>
    public static int KeptLength(ReadOnlySpan<char> target)
    {
        for (var i = 0; i < target.Length; i++)
        {
            if (!IsPathChar(target[i]))
            {
                return i;
            }
        }

        return target.Length;
    }

    private static bool IsPathChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '~' or '-';
}
