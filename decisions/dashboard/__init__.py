"""The operator's pages (/umbrel-ui/): server-rendered, the same roles as the API, the same domain services.

It lives in decisions, the top layer, because it shows everything below (sources, channels, decisions) and acts
only through decisions' services. One module per page: overview, channel_pages, queue, sources_page; stats for the
JSON figures and Umbrel's widgets; charts for the SVG charts; access and page for login, roles and the frame every
page shares; selectors for the queries the pages share.
"""
