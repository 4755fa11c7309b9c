using System.Globalization;
using System.Net;

namespace Detach.Smtp;

/// <summary>
/// The attributes of XFORWARD and XCLIENT (Postfix's XFORWARD_README and XCLIENT_README), parsed and checked apart from
/// the session: known names only, values xtext-decoded, addresses that parse as addresses, ports that are numbers, and
/// no control characters in any value (a forwarded identity ends up in Received lines and logs).
/// </summary>
internal static class ForwardingAttributes
{
    public static IReadOnlyList<string> XforwardNames { get; } = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE"];

    public static IReadOnlyList<string> XclientNames { get; } = ["NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT"];

    /// <summary>Parses "NAME=value ..." for <paramref name="command"/> (XFORWARD or XCLIENT); returns the refusal, or null.</summary>
    public static SmtpReply? TryParse(string command, string arguments, out List<KeyValuePair<string, string>> attributes)
    {
        attributes = [];
        if (arguments.Length == 0)
        {
            return new SmtpReply(501, "5.5.4", $"Syntax: {command} attribute=value...");
        }

        IReadOnlyList<string> names = command == "XCLIENT" ? XclientNames : XforwardNames;
        foreach (string token in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=', StringComparison.Ordinal);
            string name = eq < 0 ? token : token[..eq].ToUpperInvariant();
            if (eq <= 0 || !names.Contains(name))
            {
                return new SmtpReply(501, "5.5.4", "Bad attribute name");
            }

            if (!Xtext.TryDecode(token[(eq + 1)..], out string value) || !IsValid(name, value))
            {
                return new SmtpReply(501, "5.5.4", $"Bad {name} attribute value");
            }

            attributes.Add(new(name, value));
        }

        return null;
    }

    private static bool IsValid(string name, string value)
    {
        if (SmtpCommandSyntax.HasControl(value))
        {
            return false;
        }

        if (value is "[UNAVAILABLE]" or "[TEMPUNAVAIL]")
        {
            return true;
        }

        return name switch
        {
            "ADDR" or "DESTADDR" => IsAddress(value.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase) ? value[5..] : value),
            "PORT" or "DESTPORT" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= 65535,
            _ => value.Length is > 0 and <= 255,
        };
    }

    /// <summary>An IPv6 address, or an IPv4 one in dotted quad form (not the "6.6.6" or hex forms inet_aton takes).</summary>
    private static bool IsAddress(string text) =>
        IPAddress.TryParse(text, out IPAddress? address)
        && (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 || address.ToString() == text);
}
