# The detach image used by docker-compose.yml.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Gateway/Detach.Gateway.csproj -c Release -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0
RUN useradd --system --home /var/lib/detach --shell /usr/sbin/nologin detach \
    && mkdir -p /var/lib/detach && chown detach:detach /var/lib/detach
COPY --from=build /out /opt/detach
USER detach
ENV DETACH__DataPath=/var/lib/detach
VOLUME /var/lib/detach
EXPOSE 10025 8080
ENTRYPOINT ["/opt/detach/detach"]
CMD ["serve"]
