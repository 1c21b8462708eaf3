"""A GPS receiver stand-in for tests: serves NMEA 0183 (RMC + GGA, 2 Hz, the
current UTC time) at a fixed position on a TCP port, for a real gpsd to read
(`gpsd -N -n -b -S PORT tcp://127.0.0.1:FEED`). Usage: nmea_feed.py PORT LAT LON."""
import datetime
import socket
import sys
import threading
import time


def checksum(body):
    c = 0
    for ch in body:
        c ^= ord(ch)
    return "%02X" % c


def nmea_coord(v, pos, neg, width):
    hemi = pos if v >= 0 else neg
    v = abs(v)
    deg = int(v)
    minutes = (v - deg) * 60
    return f"{deg:0{width}d}{minutes:07.4f}", hemi


def serve(conn, lat, lon):
    la, ns = nmea_coord(lat, "N", "S", 2)
    lo, ew = nmea_coord(lon, "E", "W", 3)
    while True:
        now = datetime.datetime.now(datetime.timezone.utc)
        hms = now.strftime("%H%M%S") + ".00"
        dmy = now.strftime("%d%m%y")
        rmc = f"GPRMC,{hms},A,{la},{ns},{lo},{ew},10.0,90.0,{dmy},,,A"
        gga = f"GPGGA,{hms},{la},{ns},{lo},{ew},1,08,0.9,200.0,M,-30.0,M,,"
        try:
            conn.sendall(f"${rmc}*{checksum(rmc)}\r\n${gga}*{checksum(gga)}\r\n".encode())
        except OSError:
            return
        time.sleep(0.5)


def main():
    port, lat, lon = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4)
    print("READY", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, lat, lon), daemon=True).start()


main()
